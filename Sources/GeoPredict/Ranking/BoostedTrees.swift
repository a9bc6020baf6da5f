/// A forest of regression trees evaluated natively: flat arrays walked per row, with XGBoost's
/// arithmetic (single-precision features and leaves, `value < threshold` goes left, a missing
/// value follows the node's default, leaves summed in tree order onto the base score). No call into
/// XGBoost per prediction, and no XGBoost at all where the model is only used.
public struct BoostedTrees: Sendable, Equatable {
    /// Per node: the feature it splits on (-1 for a leaf).
    public private(set) var features: [Int32]
    /// Per node: the split threshold, or the leaf value.
    public private(set) var values: [Float]
    /// Per node: the left and right child (absolute node indices; -1 for a leaf).
    public private(set) var left: [Int32]
    public private(set) var right: [Int32]
    /// Per node: whether a missing (NaN) value goes left.
    public private(set) var defaultLeft: [Bool]
    /// Per tree: its root node.
    public private(set) var roots: [Int32]
    /// The same nodes packed for the walk (derived from the arrays above).
    let nodes: [Node]
    /// Added to every prediction (XGBoost's base_score).
    public let baseScore: Float
    /// The features a row must have (the highest split feature + 1 at least).
    public let featureCount: Int

    /// Builds a forest from its nodes; the children of each tree's nodes are relative to its root.
    public init(
        featureCount: Int, baseScore: Float,
        trees: [(features: [Int32], values: [Float], left: [Int32], right: [Int32], defaultLeft: [Bool])]
    ) throws(XGBoostError) {
        self.featureCount = featureCount
        self.baseScore = baseScore
        features = []
        values = []
        left = []
        right = []
        defaultLeft = []
        roots = []
        for tree in trees {
            let count = tree.features.count
            guard count > 0, [tree.values.count, tree.left.count, tree.right.count, tree.defaultLeft.count].allSatisfy({ $0 == count })
            else { throw .unreadableModel("a tree's node arrays differ in length") }
            let root = Int32(features.count)
            roots.append(root)
            for node in 0..<count {
                let isLeaf = tree.left[node] < 0
                if !isLeaf {
                    guard (0..<featureCount).contains(Int(tree.features[node])),
                          (1..<count).contains(Int(tree.left[node])), (1..<count).contains(Int(tree.right[node]))
                    else { throw .unreadableModel("node \(node) points outside its tree or its features") }
                }
                features.append(isLeaf ? -1 : tree.features[node])
                values.append(tree.values[node])
                left.append(isLeaf ? -1 : root + tree.left[node])
                right.append(isLeaf ? -1 : root + tree.right[node])
                defaultLeft.append(tree.defaultLeft[node])
            }
        }
        // Children must come after their parent: every walk then ends (checked once, here).
        for node in features.indices where features[node] >= 0 {
            guard left[node] > Int32(node), right[node] > Int32(node) else { throw .unreadableModel("a cycle in a tree") }
        }
        var packed: [Node] = []
        packed.reserveCapacity(features.count)
        for node in features.indices {
            packed.append(Node(
                feature: features[node], value: values[node], left: left[node], right: right[node], defaultLeft: defaultLeft[node]))
        }
        nodes = packed
    }

    /// The number of trees.
    public var treeCount: Int { roots.count }

    /// One node as the walk reads it: everything in one place, so a step touches one cache line.
    struct Node: Sendable, Equatable {
        var feature: Int32
        /// The threshold, or the leaf value.
        var value: Float
        var left: Int32
        var right: Int32
        var defaultLeft: Bool
    }

    /// The margin for one row of `featureCount` values.
    public func predict(_ row: UnsafeBufferPointer<Float>) -> Float {
        precondition(row.count >= featureCount, "BoostedTrees: a row needs \(featureCount) features")
        return predict(rows: Array(row.prefix(featureCount)))[0]
    }

    /// The margins of `rows` (row-major, `featureCount` per row). Tree by tree over all rows (a tree
    /// stays in cache); each row still adds its leaves in tree order onto the base score, as XGBoost
    /// does in single precision, so the order of the loops changes no bit.
    public func predict(rows: [Float]) -> [Float] {
        let width = featureCount
        let count = width > 0 ? rows.count / width : 0
        var sums = [Float](repeating: baseScore, count: count)
        nodes.withUnsafeBufferPointer { nodes in
            rows.withUnsafeBufferPointer { rows in
                sums.withUnsafeMutableBufferPointer { sums in
                    for root in roots {
                        for row in 0..<count {
                            let base = row * width
                            var node = nodes[Int(root)]
                            while node.feature >= 0 {
                                let value = rows[base + Int(node.feature)]
                                // NaN compares false: it goes where the node's default says.
                                let goesLeft = value < node.value || (value.isNaN && node.defaultLeft)
                                node = nodes[Int(goesLeft ? node.left : node.right)]
                            }
                            sums[row] += node.value
                        }
                    }
                }
            }
        }
        return sums
    }

    /// Reads the trees of a model XGBoost saved as JSON (`XGBoosterSaveModelToBuffer`, format json).
    public init(xgboostJSON bytes: [UInt8]) throws(XGBoostError) {
        let document = try JSONValue.parse(bytes)
        guard let learner = document["learner"],
              let model = learner["gradient_booster"]?["model"], let trees = model["trees"]?.array
        else { throw .unreadableModel("no learner.gradient_booster.model.trees") }
        guard let baseScore = learner["learner_model_param"]?["base_score"]?.double,
              let featureCount = learner["learner_model_param"]?["num_feature"]?.double
        else { throw .unreadableModel("no learner_model_param") }
        func numbers(_ tree: JSONValue, _ key: String) throws(XGBoostError) -> [Double] {
            guard let array = tree[key]?.array else { throw .unreadableModel("a tree without \(key)") }
            var result: [Double] = []
            result.reserveCapacity(array.count)
            for element in array {
                guard let number = element.double else { throw .unreadableModel("\(key) holds a non-number") }
                result.append(number)
            }
            return result
        }
        var parsed: [(features: [Int32], values: [Float], left: [Int32], right: [Int32], defaultLeft: [Bool])] = []
        for tree in trees {
            // Categorical splits would need XGBoost's category bitmaps; GeoPredict's features are numbers.
            if let types = tree["split_type"]?.array, types.contains(where: { ($0.double ?? 0) != 0 }) {
                throw .unreadableModel("categorical splits are not supported")
            }
            // For a leaf, split_conditions holds its value (XGBoost keeps both in one field).
            parsed.append((
                features: try numbers(tree, "split_indices").map { Int32($0) },
                values: try numbers(tree, "split_conditions").map { Float($0) },
                left: try numbers(tree, "left_children").map { Int32($0) },
                right: try numbers(tree, "right_children").map { Int32($0) },
                defaultLeft: try numbers(tree, "default_left").map { $0 != 0 }))
        }
        try self.init(featureCount: Int(featureCount), baseScore: Float(baseScore), trees: parsed)
    }
}
