import Foundation
import GeoPredictProtos
import MPI
import Synchronization

/// Stages done by the training run going on: counted on its background thread, read by
/// `GetTrainingStatus` on the MPI thread.
final class TrainingProgress: Sendable {
    private let stages = Mutex(0)

    var value: Int { stages.withLock { $0 } }

    func reset() { stages.withLock { $0 = 0 } }

    func advance() { stages.withLock { $0 += 1 } }
}

/// What `GetTrainingStatus` reports: the current or last run, and the model that serves. The same on
/// every rank, since every rank takes part in every run.
struct TrainingStatus {
    enum State { case idle, running, failed }

    var state = State.idle
    var runVersion = ""
    /// Stages done and planned: statistics, collaborative model, weight fit, next-trip timing
    /// (while a run goes on, ``progress`` counts them).
    var stage = 0
    let progress = TrainingProgress()
    var stages = 4
    var loss = 0.0
    var started: ContinuousClock.Instant?
    var finishedSeconds: Double?
    var servingVersion = ""
    var error = ""

    var response: Geopredict_V1_GetTrainingStatusResponse {
        .with {
            switch state {
            case .idle: $0.state = .idle
            case .running: $0.state = .running
            case .failed: $0.state = .failed
            }
            $0.runModelVersion = runVersion
            $0.iteration = UInt32(state == .running ? progress.value : stage)
            $0.iterations = UInt32(stages)
            $0.loss = loss
            if let finishedSeconds {
                $0.elapsedSeconds = finishedSeconds
            } else if let started {
                $0.elapsedSeconds = (ContinuousClock.now - started).seconds
            }
            $0.servingModelVersion = servingVersion
            $0.error = error
        }
    }
}

/// Model versions: `m<sequence>-<UTC time of the run>`, e.g. `m2-20261121T101500Z`.
enum ModelVersion {
    static func make(sequence: Int, unixSeconds: Int64) -> String {
        let date = Date(timeIntervalSince1970: TimeInterval(unixSeconds))
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? .current
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let stamp = String(
            format: "%04d%02d%02dT%02d%02d%02dZ", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0,
            parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0
        )
        return "m\(sequence)-\(stamp)"
    }
}
