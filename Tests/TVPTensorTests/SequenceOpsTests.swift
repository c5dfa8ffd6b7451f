import Foundation
import TVPTensor
import XCTest

/// The inputs the PyTorch fixture script builds: value i is Float(sin(a · i + b)).
private func sinePattern(_ shape: [Int], _ a: Double, _ b: Double) -> Tensor {
    let n = shape.reduce(1, *)
    return try! Tensor((0..<n).map { Float(Foundation.sin(a * Double($0) + b)) }, shape: shape)
}

/// Row-major flat index of `index` in `shape` (test helper).
private func flatIndex(_ index: [Int], _ shape: [Int]) -> Int {
    var flat = 0
    for (i, n) in zip(index, shape) { flat = flat * n + i }
    return flat
}

/// Every multi-index of `shape`, in row-major order.
private func allIndices(_ shape: [Int]) -> [[Int]] {
    var result: [[Int]] = [[]]
    for n in shape { result = result.flatMap { prefix in (0..<n).map { prefix + [$0] } } }
    return result
}

final class SequenceOpsTests: XCTestCase {
    // MARK: embedding

    func testEmbeddingLooksUpRowsAndScatterAddsGradients() throws {
        let table = Tensor.randn([6, 3], seed: 1, requiresGrad: true)
        let ids: [Int32] = [4, 0, 4, 5, 2, 4]
        let out = try embedding(ids: ids, shape: [2, 3], table: table)
        XCTAssertEqual(out.shape, [2, 3, 3])
        for (p, id) in ids.enumerated() { for d in 0..<3 { XCTAssertEqual(out.data[p * 3 + d], table[Int(id), d]) } }
        XCTAssertEqual(try embedding(ids: ids.map(Int.init), shape: [2, 3], table: table).toArray(), out.toArray())
        // Oracle for the backward: each id's row receives the sum of its positions' gradients.
        let seed = Tensor.randn(out.shape, seed: 2)
        try out.backward(seed: seed)
        var expected = [Float](repeating: 0, count: 18)
        for (p, id) in ids.enumerated() { for d in 0..<3 { expected[Int(id) * 3 + d] += seed.data[p * 3 + d] } }
        assertClose(table.grad!.toArray(), expected, tolerance: 1e-6)
        try gradCheck("embedding", inputs: [table]) { try embedding(ids: ids, shape: [6], table: $0[0]) }
    }

    func testEmbeddingFrozenTableAndOutOfRangeIds() throws {
        let frozen = Tensor.randn([5, 2], seed: 3)
        XCTAssertFalse(try embedding(ids: [1, 2] as [Int], shape: [2], table: frozen).requiresGrad)
        XCTAssertThrowsError(try embedding(ids: [1, 5] as [Int32], shape: [2], table: frozen)) { error in
            XCTAssertTrue("\(error)".contains("embedding") && "\(error)".contains("index 5") && "\(error)".contains("0..<5"), "\(error)")
        }
        XCTAssertThrowsError(try embedding(ids: [-1] as [Int], shape: [1], table: frozen)) { XCTAssertTrue("\($0)".contains("index -1")) }
        XCTAssertThrowsError(try embedding(ids: [1, 2, 3] as [Int], shape: [2], table: frozen)) { XCTAssertTrue("\($0)".contains("do not fill")) }
        XCTAssertThrowsError(try embedding(ids: [1] as [Int], shape: [1], table: Tensor(zeros: [5]))) { XCTAssertTrue("\($0)".contains("[V, D]")) }
    }

    // MARK: rope

    /// Hugging Face LLaMA rotate_half and Meta's complex-number form, reimplemented in PyTorch by
    /// scripts/fixtures/attention_golden.py (positions up to 2047 check the Float32 angle handling).
    func testRopeMatchesHuggingFaceAndMetaGoldens() throws {
        let x = sinePattern([1, 2, 5, 8], 0.31, 0.25)
        let positions = [0, 1, 7, 100, 2047]
        let half = try rope(x, positions: positions, base: 10000, style: .halfSplit)
        assertClose(half.toArray(), [0.247404, 0.5311862, 0.764329, 0.924606, 0.9967378, 0.9738476, 0.8581178, 0.6605812, 0.8362011, 0.1915568, -0.1969666, -0.4945147, -0.06147793, -0.8933063, -0.9945391, -0.9829476, -0.7715605, -0.824344, -0.4862864, -0.1489213, -0.4521313, -0.09427506, 0.6757504, 0.8887373, 1.091192, -0.7301903, 0.590186, 0.7591673, -0.09011257, -0.6923929, 0.6880025, -0.3475578, -1.05569, 0.4082581, 0.5589717, 0.6553826, 0.428075, 1.072876, -0.9523775, -0.7810139, 0.08353194, 0.3835427, 0.6469893, 0.8487566, 0.9696094, 0.9980267, 0.9312991, 0.7757882, 0.8124504, 0.3459111, -0.03243643, -0.3438104, 0.1275745, -0.795476, -0.9589701, -1.000119, -0.7132117, -0.8097062, -0.6199162, -0.3102414, -0.6209378, -0.2826014, 0.5393587, 0.7997333, 1.126612, -0.6517672, 0.4831802, 0.8479284, 0.05049881, -0.8325294, 0.8286455, -0.1818813, -1.075291, 0.2785545, 0.6917488, 0.7976707, 0.2876595, 1.115668, -0.8984001, -0.7115936],
                    tolerance: 2e-5, "halfSplit")
        let interleaved = try rope(x, positions: positions, base: 500000, style: .interleaved)
        assertClose(interleaved.toArray(), [0.247404, 0.5311862, 0.764329, 0.924606, 0.9967378, 0.9738476, 0.8581178, 0.6605812, 0.1308182, 0.3914432, -0.1881264, -0.502926, -0.7355707, -0.9090084, -0.9924675, -0.9825054, -0.2083464, -1.098428, -0.3856174, -0.2517101, 0.1614906, 0.4605727, 0.7077764, 0.8900216, 1.351728, 0.3535694, -0.3130688, -1.107895, 0.4441992, 0.2488224, -0.122651, -0.42227, -1.011788, 0.4393965, 1.004801, -0.9684217, 1.070514, 0.5026764, -0.4836086, -0.2786361, 0.08353194, 0.3835427, 0.6469893, 0.8487566, 0.9696094, 0.9980267, 0.9312991, 0.7757882, 0.07238293, 0.6027664, -0.02903075, -0.3461466, -0.6135558, -0.8269039, -0.9585447, -0.9998254, -0.1864408, -1.225415, -0.4814003, -0.4452399, -0.002580006, 0.305471, 0.581098, 0.8021017, 1.321952, 0.3831547, -0.3015273, -1.228419, 0.5594102, 0.4270894, 0.04254905, -0.2654018, -0.8883629, 0.3358655, 1.007833, -0.9210655, 1.147197, 0.5858755, -0.6009027, -0.4506788],
                    tolerance: 2e-5, "interleaved")
    }

    func testRopeGradientsAndRelativePositionProperty() throws {
        for style in [RopeStyle.halfSplit, .interleaved] {
            let x = Tensor.randn([2, 2, 3, 6], seed: 4, requiresGrad: true)
            try gradCheck("rope \(style)", inputs: [x]) { try rope($0[0], positions: [3, 0, 9], style: style) }
            // [B, N, Dh] works too, and q·k after rotation depends only on the position difference.
            let q = Tensor.randn([1, 1, 6], seed: 5), k = Tensor.randn([1, 1, 6], seed: 6)
            func dot(_ pq: Int, _ pk: Int) throws -> Float {
                let a = try rope(q, positions: [pq], style: style), b = try rope(k, positions: [pk], style: style)
                return zip(a.toArray(), b.toArray()).map(*).reduce(0, +)
            }
            XCTAssertEqual(try dot(7, 3), try dot(14, 10), accuracy: 1e-4)
        }
        XCTAssertThrowsError(try rope(Tensor(zeros: [1, 2, 5]), positions: [0, 1])) { XCTAssertTrue("\($0)".contains("odd")) }
        XCTAssertThrowsError(try rope(Tensor(zeros: [1, 2, 4]), positions: [0])) { XCTAssertTrue("\($0)".contains("1 positions")) }
    }

    // MARK: concat, slice, select

    func testConcatAlongEachAxis() throws {
        let a = Tensor.randn([2, 3, 4], seed: 7, requiresGrad: true)
        for axis in [0, 1, -1] {
            var otherShape = [2, 3, 4]
            otherShape[(axis + 3) % 3] = 2
            let b = Tensor.randn(otherShape, seed: 8, requiresGrad: true)
            let c = try concat([a, b], axis: axis)
            let ax = (axis + 3) % 3
            for index in allIndices(c.shape) {
                var i = index
                let value: Float
                if i[ax] < a.shape[ax] { value = a.data[flatIndex(i, a.shape)] } else { i[ax] -= a.shape[ax]; value = b.data[flatIndex(i, b.shape)] }
                XCTAssertEqual(c.data[flatIndex(index, c.shape)], value)
            }
            try gradCheck("concat axis \(axis)", inputs: [a, b]) { try concat([$0[0], $0[1], $0[0]], axis: axis) }
        }
        XCTAssertThrowsError(try concat([a, Tensor(zeros: [2, 4, 4])], axis: 0)) { XCTAssertTrue("\($0)".contains("concat") && "\($0)".contains("[2, 4, 4]")) }
        XCTAssertThrowsError(try concat([], axis: 0))
        XCTAssertThrowsError(try concat([a], axis: 3)) { XCTAssertTrue("\($0)".contains("axis 3")) }
    }

    func testSliceIsAViewWhenContiguousAndACopyOtherwise() throws {
        let x = Tensor.randn([4, 3, 5], seed: 9, requiresGrad: true)
        let rows = try slice(x, axis: 0, range: 1..<3)
        XCTAssertTrue(rows.storage === x.storage, "axis-0 slice shares storage")
        XCTAssertEqual(rows.toArray(), Array(x.toArray()[15..<45]))
        let single = try slice(x, axis: 0, range: 2..<3)
        XCTAssertTrue(try slice(single, axis: 1, range: 1..<2).storage === x.storage, "leading axes of size 1 keep it a view")
        let middle = try slice(x, axis: 1, range: 1..<3)
        XCTAssertFalse(middle.storage === x.storage)
        XCTAssertEqual(middle.shape, [4, 2, 5])
        for index in allIndices(middle.shape) {
            XCTAssertEqual(middle.data[flatIndex(index, middle.shape)], x[index[0], index[1] + 1, index[2]])
        }
        try gradCheck("slice view", inputs: [x]) { try slice($0[0], axis: 0, range: 1..<3) }
        try gradCheck("slice copy", inputs: [x]) { try slice($0[0], axis: -1, range: 2..<5) }
        XCTAssertThrowsError(try slice(x, axis: 1, range: 2..<4)) { XCTAssertTrue("\($0)".contains("slice") && "\($0)".contains("[4, 3, 5]")) }
    }

    func testSelectDropsTheAxis() throws {
        let x = Tensor.randn([2, 3, 4], seed: 10, requiresGrad: true)
        let cls = try select(x, axis: 1, index: 0)
        XCTAssertEqual(cls.shape, [2, 4])
        for b in 0..<2 { for d in 0..<4 { XCTAssertEqual(cls[b, d], x[b, 0, d]) } }
        try gradCheck("select", inputs: [x]) { try select($0[0], axis: 1, index: 2) }
        XCTAssertThrowsError(try select(x, axis: 0, index: 2)) { XCTAssertTrue("\($0)".contains("index 2")) }
    }

    // MARK: pad, broadcast, gatherRows

    func testPadMatchesReferenceAndBackward() throws {
        let x = Tensor.randn([2, 3, 4], seed: 11, requiresGrad: true)
        let padding = [(before: 1, after: 0), (before: 2, after: 3)]
        let y = try pad(x, padding: padding, value: -1.5)
        XCTAssertEqual(y.shape, [2, 4, 9])
        for index in allIndices(y.shape) {
            let (i, j) = (index[1] - 1, index[2] - 2)
            let inside = i >= 0 && i < 3 && j >= 0 && j < 4
            XCTAssertEqual(y.data[flatIndex(index, y.shape)], inside ? x[index[0], i, j] : -1.5)
        }
        try gradCheck("pad", inputs: [x]) { try pad($0[0], padding: [(0, 1), (2, 0), (1, 1)]) }
        XCTAssertEqual(try pad(x, padding: []).toArray(), x.toArray())
        XCTAssertThrowsError(try pad(x, padding: [(1, 1), (1, 1), (1, 1), (1, 1)])) { XCTAssertTrue("\($0)".contains("pad")) }
        XCTAssertThrowsError(try pad(x, padding: [(-1, 0)])) { XCTAssertTrue("\($0)".contains("negative")) }
    }

    func testBroadcastToMatchesIndexingAndSumsBack() throws {
        let x = Tensor.randn([3, 1], seed: 12, requiresGrad: true)
        let y = try x.broadcast(to: [2, 3, 4])
        for index in allIndices(y.shape) { XCTAssertEqual(y.data[flatIndex(index, y.shape)], x[index[1], 0]) }
        let row = Tensor.randn([4], seed: 13, requiresGrad: true)
        XCTAssertEqual(try row.broadcast(to: [3, 4]).toArray(), row.toArray() + row.toArray() + row.toArray())
        try gradCheck("broadcast(to:)", inputs: [x, row]) { t in try t[0].broadcast(to: [2, 3, 4]) + t[1].broadcast(to: [3, 4]) }
        XCTAssertThrowsError(try x.broadcast(to: [2, 4])) { XCTAssertTrue("\($0)".contains("broadcast")) }
        XCTAssertThrowsError(try x.broadcast(to: [3])) { XCTAssertTrue("\($0)".contains("does not broadcast")) }
    }

    func testGatherRowsRepeatsAndScatterAdds() throws {
        let x = Tensor.randn([4, 2, 3], seed: 14, requiresGrad: true)
        let indices = [3, 1, 3, 0]
        let y = try gatherRows(x, indices)
        XCTAssertEqual(y.shape, [4, 2, 3])
        for (r, i) in indices.enumerated() { XCTAssertEqual(Array(y.toArray()[(r * 6)..<(r * 6 + 6)]), Array(x.toArray()[(i * 6)..<(i * 6 + 6)])) }
        try gradCheck("gatherRows", inputs: [x]) { try gatherRows($0[0], indices) }
        XCTAssertThrowsError(try gatherRows(x, [4])) { XCTAssertTrue("\($0)".contains("index 4") && "\($0)".contains("0..<4")) }
    }
}
