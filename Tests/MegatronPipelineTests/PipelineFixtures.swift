import Foundation
import MegatronPipeline

/// The JSON written by `scripts/fixtures/make_pipeline_fixtures.py` from megatron-core 0.16.1.
struct ScheduleFixtures: Decodable {
    struct Rank: Decodable {
        let rank: Int
        let warmup: Int
        let max_in_flight: Int
        /// "F mb c", "B mb c" or "X sendActivation sendGradient receiveActivation receiveGradient".
        let actions: [String]
    }

    struct Case: Decodable, CustomStringConvertible {
        let pp: Int
        let microbatches: Int
        let chunks: Int
        let group: Int
        let group_is_default: Bool
        let forward_only: Bool
        let function: String
        let ranks: [Rank]

        var description: String {
            "pp \(pp) m \(microbatches) v \(chunks) group \(group)\(forward_only ? " forward-only" : "")"
        }

        func schedules() throws -> [PipelineSchedule] {
            try PipelineSchedule.allRanks(pipelineSize: pp, microbatches: microbatches, chunks: chunks,
                                          microbatchGroupSize: group_is_default ? nil : group, forwardOnly: forward_only)
        }
    }

    struct Failure: Decodable {
        let pp: Int
        let microbatches: Int
        let chunks: Int
        let group: Int
        let forward_only: Bool
        let megatron_error: String
    }

    let megatron_core: String
    let cases: [Case]
    let errors: [Failure]

    static let shared: ScheduleFixtures = {
        do { return try loadFixture("pipeline_schedules") } catch { fatalError("fixture: \(error)") }
    }()
}

struct LayoutFixtures: Decodable {
    struct Case: Decodable, CustomStringConvertible {
        let num_layers: Int
        let pp: Int
        let virtual_stages: Int?
        let first: Int?
        let last: Int?
        let account_for_embedding: Bool
        let account_for_loss: Bool
        /// `stages[rank][chunk] = [first layer, layer count]`; absent for error cases.
        let stages: [[[Int]]]?
        let megatron_error: String?

        var description: String {
            "layers \(num_layers) pp \(pp) vp \(virtual_stages.map(String.init) ?? "-") first \(first.map(String.init) ?? "-") "
                + "last \(last.map(String.init) ?? "-") embedding \(account_for_embedding) loss \(account_for_loss)"
        }

        func layout() throws(PipelineError) -> PipelineLayout {
            try PipelineLayout(numLayers: num_layers, pipelineSize: pp, virtualStagesPerRank: virtual_stages,
                               firstStageLayers: first, lastStageLayers: last,
                               accountForEmbedding: account_for_embedding, accountForLoss: account_for_loss)
        }
    }

    let megatron_core: String
    let cases: [Case]
    let errors: [Case]

    static let shared: LayoutFixtures = {
        do { return try loadFixture("pipeline_layouts") } catch { fatalError("fixture: \(error)") }
    }()
}

private func loadFixture<T: Decodable>(_ name: String) throws -> T {
    guard let url = Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures") else {
        throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: "Fixtures/\(name).json"])
    }
    return try JSONDecoder().decode(T.self, from: Data(contentsOf: url))
}

/// The fixture notation of a Swift action, so a mismatch prints side by side.
func fixtureNotation(_ action: PipelineAction) -> String {
    func part(_ work: VirtualMicrobatch?) -> String { work.map { "\($0.microbatch).\($0.chunk)" } ?? "-" }
    switch action {
    case let .forward(work): return "F \(work.microbatch) \(work.chunk)"
    case let .backward(work): return "B \(work.microbatch) \(work.chunk)"
    case let .exchange(x):
        return "X \(part(x.sendActivation)) \(part(x.sendGradient)) \(part(x.receiveActivation)) \(part(x.receiveGradient))"
    }
}

/// Megatron calls its p2p helper even when there is nothing to move (rank 0's final
/// `send_backward_recv_backward` of the interleaved schedule); that call does nothing, and the
/// Swift schedules leave it out.
let emptyExchange = "X - - - -"
