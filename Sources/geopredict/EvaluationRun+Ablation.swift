import GeoPredict

extension EvaluationRun {
    /// Retrains without each group of features and prints the model's metrics next to the full
    /// model's; with the boosted ranker, also the full model ranked by its linear score alone (what
    /// the booster adds). With `--recent-history`, each row also shows the model's MRR@10 as served.
    func ablation(_ parameters: NextVisitParameters, inputs: EvaluationInputs, file: EvaluationFile) throws -> [String: AblationRow] {
        let choice = TrainingChoice(fitTime: command.trainingChoice.fitTime, booster: command.boosterParameters(), timing: false)
        let recent = command.recentHistory ? inputs.recent : nil
        say("")
        say("ablation on \(file.label) (\(file.path)), query time \(command.queryTime.rawValue), ranker \(command.ranker.rawValue): "
            + "the model retrained without each part")
        say("    " + pad("", 30) + ["Acc@1", "Acc@5", "Acc@10", "MRR@10", "ΔAcc@1", "ΔAcc@10", "ΔMRR@10"].map { pad($0, 9) }.joined()
            + "  shopping Acc@1  MRR@10" + (recent == nil ? "" : "   served MRR@10  Δ"))
        var rows: [String: AblationRow] = [:]
        var full: AblationRow?
        for (name, features) in ablationVariants(parameters.features) {
            var variant = parameters
            variant.features = features
            let (model, _) = try trainModel(variant, training: inputs.training, cutoff: inputs.cutoff, choice: choice, verbose: false)
            var variants = [(name, model)]
            if name == Self.fullModelName, model.booster != nil {
                variants.append(("- booster (linear ranker)", model.linearRanker))
            }
            for (rowName, rowModel) in variants {
                let row = try ablationRow(rowModel, inputs: inputs, file: file, recent: recent)
                if full == nil { full = row }
                say("    " + pad(rowName, 30) + row.cells(against: full ?? row))
                rows[rowName] = row
            }
        }
        return rows
    }

    static let fullModelName = "full model"

    /// The full model, then one variant without each group the model has.
    func ablationVariants(_ features: NextVisitFeatureSet) -> [(String, NextVisitFeatureSet)] {
        [(Self.fullModelName, features)]
            + NextVisitFeatureGroup.allCases.compactMap { group in
                let without = features.removing(group)
                return without == features ? nil : ("- \(group.rawValue)", without)
            }
    }

    func ablationRow(_ model: NextVisitModel, inputs: EvaluationInputs, file: EvaluationFile, recent: RecentCheckIns?) throws -> AblationRow {
        let report = try evaluate(model, training: inputs.training, on: file.known, queryTime: command.queryTime)
        var row = AblationRow(all: report.metrics(.model), shopping: report.metrics(.model, shoppingOnly: true))
        if let recent {
            row.servedMRR10 = try evaluate(model, training: inputs.training, on: file.known, recent: recent, queryTime: command.queryTime)
                .metrics(.model).meanReciprocalRankAt10
        }
        return row
    }
}

extension AblationRow {
    /// The printed cells: the figures, the differences to `full`, the shopping slice, as served.
    func cells(against full: AblationRow) -> String {
        let values = [acc1, acc5, acc10, mrr10, acc1 - full.acc1, acc10 - full.acc10, mrr10 - full.mrr10]
        var text = values.map { pad(signed($0), 9) }.joined() + "  " + pad(signed(shoppingAcc1), 15) + pad(signed(shoppingMRR10), 6)
        if let served = servedMRR10 {
            text += "   " + pad(signed(served), 15) + signed(served - (full.servedMRR10 ?? served))
        }
        return text
    }
}
