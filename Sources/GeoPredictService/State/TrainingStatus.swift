import Foundation
import GeoPredict
import GeoPredictProtos
import MPI
import Synchronization

/// Stages and ALS iterations done by the training run going on (or the last one): recorded on its
/// background thread, read by `GetTrainingStatus` on the MPI thread.
final class TrainingProgress: Sendable {
    private struct State {
        var stages = 0
        var iterations: [Geopredict_V1_TrainingIteration] = []
        /// When the run started (iterations are timed from there, not from their model's start).
        var started = ContinuousClock.now
    }

    private let state = Mutex(State())

    /// Stages done.
    var value: Int { state.withLock { $0.stages } }

    /// The ALS iterations done, with their losses, in the order run.
    var iterations: [Geopredict_V1_TrainingIteration] { state.withLock { $0.iterations } }

    /// Forgets the last run: a new one starts now.
    func reset() { state.withLock { $0 = State() } }

    func advance() { state.withLock { $0.stages += 1 } }

    /// Records an ALS iteration of `model` (its loss, when the training computed it; 0 otherwise).
    func record(_ progress: ALSProgress, model: Geopredict_V1_TrainingIteration.Model) {
        let now = ContinuousClock.now
        state.withLock { state in
            let elapsed = now - state.started
            state.iterations.append(.with {
                $0.model = model
                $0.iteration = UInt32(clamping: progress.iteration)
                // A model with no visits to train on (the fit-window model of a history shorter than the
                // window) has no defined loss (ALSLoss divides by zero): 0, as documented.
                $0.loss = progress.loss.flatMap { $0.isFinite ? $0 : nil } ?? 0
                $0.elapsedSeconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            })
        }
    }
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
    /// The ALS iterations the run plans (``progress`` records those done).
    var plannedALSIterations = 0
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
            $0.alsIterations = progress.iterations
            $0.plannedAlsIterations = UInt32(clamping: plannedALSIterations)
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
