import Testing
@testable import MegatronCUDA

@Suite struct NCCLTests {
    @Test func uniqueIDIs128BytesAndRoundTrips() {
        #expect(NCCLUniqueID(bytes: [UInt8](repeating: 7, count: 128))?.bytes.count == 128)
        #expect(NCCLUniqueID(bytes: [UInt8](repeating: 7, count: 127)) == nil)
        let id = NCCLUniqueID(bytes: (0 ..< 128).map { UInt8($0) })
        #expect(id.map { NCCLUniqueID($0.cValue) } == id)
    }

    @Test(.enabled(if: CUDATestSupport.hasNCCL, "no NVIDIA GPU or no NCCL"))
    func singleRankAllReduceAndInitRank() throws {
        let context = try CUDAContext.primary(device: 0)
        let nccl = try NCCLLibrary.shared()
        let values: [Float] = (0 ..< 1000).map { Float($0) * 0.5 }
        let buffer = try context.allocator.allocate(byteCount: 4000)
        try context.upload(values, to: buffer.pointer)
        let stream = try context.makeStream()

        let all = try NCCLCommunicator.makeAll(contexts: [context])
        try all[0].allReduce(send: buffer.pointer, receive: buffer.pointer, count: 1000, dtype: .fp32, stream: stream)
        try stream.synchronize()
        #expect(try context.download(Float.self, count: 1000, from: buffer.pointer) == values)

        // ncclCommInitRank with the 128-byte id passed by value.
        let comm = try NCCLCommunicator(context: context, uniqueID: nccl.uniqueID(), rank: 0, size: 1)
        try comm.allReduce(send: buffer.pointer, receive: buffer.pointer, count: 1000, dtype: .fp32, op: .sum, stream: stream)
        try stream.synchronize()
        try comm.checkAsyncError()
        #expect(try context.download(Float.self, count: 1000, from: buffer.pointer) == values)
    }
}
