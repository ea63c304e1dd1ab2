import Testing
@testable import MegatronCUDA

@Suite struct AllocatorRoundingTests {
    @Test func smallSizesRoundToGranules() {
        #expect(CachingAllocator.blockSize(for: 0) == 512)
        #expect(CachingAllocator.blockSize(for: 1) == 512)
        #expect(CachingAllocator.blockSize(for: 512) == 512)
        #expect(CachingAllocator.blockSize(for: 513) == 1024)
        #expect(CachingAllocator.blockSize(for: 1 << 20) == 1 << 20)
    }

    @Test func largeSizesRoundToQuarterPowersOfTwo() {
        let mib = 1 << 20
        #expect(CachingAllocator.blockSize(for: mib + 1) == mib + mib / 4)
        #expect(CachingAllocator.blockSize(for: 3 * mib) == 3 * mib)
        #expect(CachingAllocator.blockSize(for: 3 * mib + 1) == 3 * mib + mib / 2)
        #expect(CachingAllocator.blockSize(for: 100 * mib) == 112 * mib)
        // Above 256 MiB: eighths.
        #expect(CachingAllocator.blockSize(for: 300 * mib) == 320 * mib)
    }

    @Test func slackIsBounded() {
        var size = 1
        while size < 1 << 34 {
            let block = CachingAllocator.blockSize(for: size)
            #expect(block >= size)
            if size > 1 << 20 { #expect(Double(block) <= Double(size) * 1.25) }
            size = size * 3 / 2 + 7
        }
    }
}
