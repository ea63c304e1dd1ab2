import Foundation
import Synchronization
@testable import MegatronParallel
import Testing

@Suite("Launcher environment and rendezvous")
struct RendezvousTests {
    @Test func readsTorchrunSlurmAndOpenMPIVariables() throws {
        #expect(try DistributedEnvironment([:]) == nil)
        let torchrun = try #require(try DistributedEnvironment(["RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1",
                                                                "MASTER_ADDR": "node0", "MASTER_PORT": "12345"]))
        #expect(torchrun == DistributedEnvironment(rank: 3, worldSize: 8, localRank: 1, masterAddress: "node0", masterPort: 12345, launcher: "torchrun"))
        let slurm = try #require(try DistributedEnvironment(["SLURM_PROCID": "5", "SLURM_NTASKS": "16", "SLURM_LOCALID": "5",
                                                             "MASTER_ADDR": "n1"]))
        #expect(slurm.rank == 5 && slurm.worldSize == 16 && slurm.localRank == 5 && slurm.masterPort == 29500 && slurm.launcher == "slurm")
        let mpi = try #require(try DistributedEnvironment(["OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2",
                                                           "OMPI_COMM_WORLD_LOCAL_RANK": "1", "MASTER_ADDR": "h"]))
        #expect(mpi.launcher == "openmpi" && mpi.localRank == 1)
    }

    @Test func badVariablesNameTheVariable() {
        func message(_ env: [String: String]) -> String {
            do { _ = try DistributedEnvironment(env); return "accepted" } catch { return error.description }
        }
        #expect(message(["RANK": "0"]) == "WORLD_SIZE is not set (needed with the torchrun launcher's variables)")
        #expect(message(["RANK": "x", "WORLD_SIZE": "2"]).hasPrefix("RANK=x is not a valid value"))
        #expect(message(["RANK": "2", "WORLD_SIZE": "2"]) == "RANK=2 is not below WORLD_SIZE=2")
        #expect(message(["RANK": "0", "WORLD_SIZE": "2", "MASTER_PORT": "70000"]).hasPrefix("MASTER_PORT=70000"))
        #expect(message(["SLURM_PROCID": "0", "SLURM_NTASKS": "2"]) == "MASTER_ADDR is not set (needed with the slurm launcher's variables)")
    }

    @Test func rankZeroHandsTheBlobToEveryRank() throws {
        let port = 20_000 + Int(UInt16(truncatingIfNeeded: ProcessInfo.processInfo.processIdentifier) % 20_000)
        let blob: [UInt8] = (0..<128).map { UInt8($0 * 7 & 0xff) }
        let world = 4
        let results = Mutex<[Int: [UInt8]]>([:])
        let errors = Mutex<[String]>([])
        let threads = (0..<world).map { rank in
            Thread {
                do {
                    let env = DistributedEnvironment(rank: rank, worldSize: world, localRank: rank, masterAddress: "127.0.0.1",
                                                     masterPort: port, launcher: "test")
                    let got = try Rendezvous.share(rank == 0 ? blob : nil, environment: env, timeout: 20)
                    results.withLock { $0[rank] = got }
                } catch {
                    errors.withLock { $0.append("\(error)") }
                }
            }
        }
        // Clients first: they must retry until rank 0 listens.
        for t in threads.reversed() { t.start() }
        let deadline = Date().addingTimeInterval(30)
        while results.withLock({ $0.count }) + errors.withLock({ $0.count }) < world, Date() < deadline { usleep(10_000) }
        #expect(errors.withLock { $0 }.isEmpty)
        #expect(results.withLock { $0 }.count == world)
        for rank in 0..<world { #expect(results.withLock { $0[rank] } == blob) }
    }

    @Test func anUnreachableMasterIsNamed() {
        let env = DistributedEnvironment(rank: 1, worldSize: 2, localRank: 1, masterAddress: "127.0.0.1", masterPort: 9, launcher: "test")
        do {
            _ = try Rendezvous.share(nil, environment: env, timeout: 0.3)
            Issue.record("connected to a closed port")
        } catch {
            #expect("\(error)".hasPrefix("cannot reach the rendezvous at MASTER_ADDR 127.0.0.1:9"))
        }
    }
}
