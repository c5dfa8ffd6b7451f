import TVPTensor
import XCTest

/// Oracle for avgPool2d: PyTorch's definition written out (count_include_pad = true, ceil_mode = false).
func referenceAvgPool(_ x: Tensor, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int)) -> [Float] {
    let (B, C, H, W) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let OH = (H + 2 * padding.0 - kernel.0) / stride.0 + 1, OW = (W + 2 * padding.1 - kernel.1) / stride.1 + 1
    var out: [Float] = []
    for p in 0..<(B * C) { for oh in 0..<OH { for ow in 0..<OW {
        var s = 0.0
        for kh in 0..<kernel.0 { for kw in 0..<kernel.1 {
            let h = oh * stride.0 - padding.0 + kh, w = ow * stride.1 - padding.1 + kw
            if h >= 0 && h < H && w >= 0 && w < W { s += Double(x.data[(p * H + h) * W + w]) }
        } }
        out.append(Float(s / Double(kernel.0 * kernel.1)))
    } } }
    return out
}

/// Oracle for adaptiveAvgPool2d: bins [floor(i*in/out), ceil((i+1)*in/out)) with Double division.
func referenceAdaptiveAvgPool(_ x: Tensor, _ OH: Int, _ OW: Int) -> [Float] {
    let (B, C, H, W) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    var out: [Float] = []
    for p in 0..<(B * C) { for i in 0..<OH { for j in 0..<OW {
        let h0 = Int((Double(i * H) / Double(OH)).rounded(.down)), h1 = Int((Double((i + 1) * H) / Double(OH)).rounded(.up))
        let w0 = Int((Double(j * W) / Double(OW)).rounded(.down)), w1 = Int((Double((j + 1) * W) / Double(OW)).rounded(.up))
        var s = 0.0
        for h in h0..<h1 { for w in w0..<w1 { s += Double(x.data[(p * H + h) * W + w]) } }
        out.append(Float(s / Double((h1 - h0) * (w1 - w0))))
    } } }
    return out
}

/// PyTorch F.interpolate outputs over a [1, 1, H, W] `pattern` image, from scripts/fixtures/conv_resize.py.
/// Keys: "mode[ alignCorners][ antialias] HxW->OHxOW".
let torchResizeGolden: [String: [Float]] = [
        "nearest 7x9->4x5": [-1.375, 0.375, 1, -1.25, -0.625, 0, -1.125, -0.5, 0.125, 0.75, -0.125, -1.25, -0.625, 0, 0.625, -0.25, -1.375, -0.75, -0.125, 0.5],
        "bilinear 7x9->4x5": [-0.590625, -0.1000001, 0.390625, -0.1968752, 0.29375, 0.7375001, -0.4250003, -0.078125, -0.09062541, 0.2562499, 0.628125, -0.5343753, -0.1875, 0.3031253, 0.1468749, 0.159375, -0.4281251, 0.0625, -0.1656247, -0.03437506],
        "bicubic 7x9->4x5": [-0.7003637, -0.05609425, 0.4693604, -0.260123, 0.2975767, 0.9384618, -0.6094563, -0.1986084, 0.07984259, 0.2246822, 0.8342139, -0.7137044, -0.3028564, 0.5376805, 0.1204342, 0.0869019, -0.3942901, 0.1311646, -0.2684232, -0.04061911],
        "bilinear alignCorners 7x9->4x5": [-1.375, -0.75, -0.125, 0.5, 1.125, 1.375, -0.875, -0.25, 0.375, 1, 1.25, -1, -0.375, 0.25, 0.875, 1.125, -1.125, -0.5, 0.125, 0.75],
        "bilinear antialias 7x9->4x5": [-0.4566326, -0.02492565, 0.1684174, -0.2905506, 0.2096086, 0.1357144, -0.1221875, 0.1102941, -0.3878126, 0.1017856, 0.02071432, -0.2371875, 0.3470588, -0.03562486, -0.01321444, -0.01318028, -0.3344494, 0.2454482, -0.08668145, -0.09991514],
        "bilinear alignCorners antialias 7x9->4x5": [-0.3163265, 0.08035714, -0.06473214, -0.1071429, 0.3348214, 0.02678572, -0.03125, 0.009765625, -0.1738281, 0.171875, -0.09821433, -0.15625, 0.2890625, -0.1640625, 0.046875, 0.08035713, -0.234375, 0.3007812, -0.1523438, 0.1484375],
        "bicubic alignCorners 7x9->4x5": [-1.375, -0.75, -0.125, 0.5, 1.125, 1.375, -0.875, -0.25, 0.375, 1, 1.25, -1, -0.375, 0.25, 0.875, 1.125, -1.125, -0.5, 0.125, 0.75],
        "bicubic antialias 7x9->4x5": [-0.5210531, 0.03886765, 0.1843735, -0.3418019, 0.2635385, 0.171363, -0.1264536, 0.1278919, -0.456833, 0.1429832, -0.0002993851, -0.2837485, 0.4264843, -0.03188675, -0.03470215, -0.003684641, -0.3948707, 0.306231, -0.08336154, -0.1294394],
        "bicubic alignCorners antialias 7x9->4x5": [-0.3904234, 0.1414194, -0.0808892, -0.1239306, 0.4307131, 0.06752312, -0.03813859, 0.007616439, -0.2110586, 0.2359435, -0.1201816, -0.2119663, 0.4030579, -0.215177, 0.06766705, 0.1412379, -0.3295955, 0.3972092, -0.204947, 0.2270355],
        "nearest 7x9->5x4": [-1.375, -0.75, -0.125, 0.5, 0, 0.625, 1.25, -1, 1.375, -0.875, -0.25, 0.375, 1.25, -1, -0.375, 0.25, -0.25, 0.375, 1, -1.25],
        "bilinear 7x9->5x4": [-0.365625, 0.553125, -0.8281249, 0.090625, 0.1218749, 0.2499999, -0.6999999, 0.07500003, -0.828125, -0.484375, -0.140625, 0.203125, -0.05312517, 0.07499991, 0.6343749, -0.09999996, 0.1468746, 0.2031247, 0.8343746, -0.2593749],
        "bicubic 7x9->5x4": [-0.3098525, 0.6140597, -0.9243317, 0.01598825, 0.2629029, 0.3253371, -0.8449757, 0.03602487, -1.036865, -0.6151123, -0.2162476, 0.4118652, 0.01031022, 0.1473371, 0.7790767, -0.1419752, 0.1878197, 0.2580591, 0.9444237, -0.3400115],
        "bilinear alignCorners 7x9->5x4": [-1.375, 0.4166668, -0.6666664, 1.125, 0.6875, 0.08333336, -0.5208333, 0.3125, -0.125, -0.2500001, -0.3750002, -0.5, 0.5, -0.1041666, 0.2499998, 0.125, 1.125, 0.04166681, 0.8749998, 0.75],
        "bilinear antialias 7x9->5x4": [-0.452381, 0.1737805, -0.2550813, 0.1607143, 0.08730153, 0.1012872, -0.2652438, 0.06150792, -0.1685065, 0.03048779, -0.02439024, -0.06818182, -0.09325404, -0.04031169, 0.2164633, -0.1190476, -0.07380965, -0.1128049, 0.2063007, -0.1726191],
        "bilinear alignCorners antialias 7x9->5x4": [-0.34375, 0.0889137, -0.1108285, 0.3525392, 0.03618421, 0.02976192, -0.1915374, 0.2274306, -0.1381579, 0.1448413, -0.07009044, 0.07725695, -0.2353801, 0.1008598, -0.1004522, -0.01996526, -0.007127179, 0.06150795, 0.02858525, 0.1236981],
        "bicubic alignCorners 7x9->5x4": [-1.375, 0.5115743, -0.7615736, 1.125, 0.9570312, 0.07175918, -0.6689814, 0.3125, -0.125, -0.368056, -0.5763893, -0.5, 0.5, -0.1157409, 0.2881941, 0.125, 1.125, 0.1365742, 1.152778, 0.75],
        "bicubic antialias 7x9->5x4": [-0.5491509, 0.2329279, -0.2622535, 0.1776312, 0.1083283, 0.1051386, -0.2970613, 0.06186812, -0.164938, 0.05697547, -0.03042282, -0.07457892, -0.1150517, -0.04636795, 0.2431967, -0.1369639, -0.07962795, -0.1495763, 0.2142948, -0.19007],
        "bicubic alignCorners antialias 7x9->5x4": [-0.4121213, 0.1410522, -0.13911, 0.4634758, 0.08633425, 0.01254469, -0.2434266, 0.3237621, -0.1424264, 0.1670884, -0.05374943, 0.07665633, -0.2591081, 0.118222, -0.09608534, -0.05016764, -0.004525382, 0.05129159, 0.04393389, 0.1356626],
        "nearest 3x4->8x6": [-1.375, -1.375, 0.375, -0.75, -0.75, 1, -1.375, -1.375, 0.375, -0.75, -0.75, 1, -1.375, -1.375, 0.375, -0.75, -0.75, 1, -0.125, -0.125, -1.25, 0.5, 0.5, -0.625, -0.125, -0.125, -1.25, 0.5, 0.5, -0.625, -0.125, -0.125, -1.25, 0.5, 0.5, -0.625, 1.125, 1.125, 0, -1.125, -1.125, 0.625, 1.125, 1.125, 0, -1.125, -1.125, 0.625],
        "bilinear 3x4->8x6": [-1.375, -0.5, 0.1874999, -0.5625, 0.125, 1, -1.296875, -0.5117188, 0.1158853, -0.5143229, 0.1132812, 0.8984375, -0.828125, -0.5820312, -0.3138021, -0.2252604, 0.04296875, 0.2890625, -0.359375, -0.6523438, -0.7434894, 0.06380215, -0.02734375, -0.3203125, 0.109375, -0.453125, -0.8138019, -0.006510347, -0.09765625, -0.390625, 0.578125, 0.015625, -0.5247396, -0.4361979, -0.1679688, 0.07812499, 1.046875, 0.484375, -0.2356772, -0.8658855, -0.2382812, 0.546875, 1.125, 0.5625, -0.1875001, -0.9375, -0.25, 0.625],
        "bicubic 3x4->8x6": [-1.69303, -0.3439019, 0.4914928, -0.8249515, 0.01044393, 1.359572, -1.455841, -0.4214113, 0.2627526, -0.6545317, 0.02486205, 1.054657, -0.983319, -0.7136691, -0.3354256, -0.1462894, 0.09169412, 0.225114, -0.3888603, -0.9178131, -0.9189268, 0.2929278, 0.1305625, -0.5550081, 0.3164881, -0.6452491, -1.079147, 0.1839246, 0.03436351, -0.6512071, 0.8064837, -0.02204537, -0.7419802, -0.4228821, -0.1524084, -0.01898843, 1.164672, 0.5912192, -0.3324982, -1.059501, -0.3325369, 0.6972584, 1.36113, 0.8363006, -0.2022612, -1.296935, -0.4060981, 0.9430295],
        "bilinear alignCorners 3x4->8x6": [-1.375, -0.325, 0.1499999, -0.525, -0.04999983, 1, -1.017857, -0.4607143, -0.15, -0.3321429, -0.02142849, 0.5357143, -0.6607143, -0.5964286, -0.45, -0.1392857, 0.007142855, 0.07142853, -0.3035713, -0.7321429, -0.75, 0.05357158, 0.03571422, -0.3928573, 0.05357149, -0.6214284, -0.8035713, 3.72529e-08, -0.01785723, -0.4464285, 0.4107143, -0.2642857, -0.6107142, -0.3, -0.1535714, -0.08928567, 0.7678573, 0.09285728, -0.4178571, -0.6000001, -0.2892857, 0.2678573, 1.125, 0.45, -0.2250001, -0.9000001, -0.4249998, 0.625],
        "bilinear antialias 3x4->8x6": [-1.375, -0.5, 0.1874999, -0.5625002, 0.125, 1, -1.296875, -0.5117188, 0.1158853, -0.5143231, 0.1132812, 0.8984375, -0.828125, -0.5820312, -0.3138021, -0.2252604, 0.04296875, 0.2890625, -0.359375, -0.6523438, -0.7434894, 0.06380228, -0.02734375, -0.3203125, 0.109375, -0.453125, -0.8138019, -0.006510232, -0.09765625, -0.390625, 0.578125, 0.015625, -0.5247396, -0.4361979, -0.1679688, 0.078125, 1.046875, 0.484375, -0.2356772, -0.8658856, -0.2382812, 0.546875, 1.125, 0.5625, -0.1875001, -0.9375002, -0.25, 0.625],
        "bilinear alignCorners antialias 3x4->8x6": [-1.375, -0.6749999, 0.375, -0.3000002, -0.3999999, 0.6500003, -1.375, -0.6749999, 0.375, -0.3000002, -0.3999999, 0.6500003, -1.107143, -0.6535714, 0.0267857, -0.2785715, -0.2553571, 0.4250002, -0.75, -0.625, -0.4375, -0.25, -0.06249999, 0.1250001, -0.392857, -0.5964286, -0.9017859, -0.2214284, 0.1303572, -0.1750002, -0.03571418, -0.4857142, -1.160714, -0.2339284, 0.1999999, -0.3517858, 0.3214287, -0.1285714, -0.8035713, -0.3696428, -0.1000001, -0.1589285, 0.6785716, 0.2285716, -0.4464284, -0.5053573, -0.4000002, 0.03392883],
        "bicubic alignCorners 3x4->8x6": [-1.375, -0.1824999, 0.3029999, -0.6779996, -0.1924997, 1, -1.099855, -0.4670992, -0.07638187, -0.366074, -0.03922714, 0.5165818, -0.780976, -0.8220276, -0.5371577, 0.02016064, 0.1517421, -0.07397987, -0.3746366, -1.026126, -0.9156995, 0.2677478, 0.2632071, -0.5267854, 0.1246358, -0.8782412, -1.04571, 0.179077, 0.1883163, -0.6016763, 0.5309763, -0.4334273, -0.87879, -0.2128425, -0.04505075, -0.2707726, 0.8498542, 0.1104047, -0.5840858, -0.7123429, -0.3316835, 0.2241256, 1.125, 0.558, -0.348, -1.122, -0.5674996, 0.625],
        "bicubic antialias 3x4->8x6": [-1.63617, -0.4576867, 0.4638897, -0.8008364, 0.1207402, 1.299224, -1.440723, -0.4975846, 0.2683866, -0.6558175, 0.1070855, 1.047476, -0.9849012, -0.6641514, -0.280698, -0.213417, 0.08335126, 0.3264599, -0.3460152, -0.802591, -0.9299262, 0.271992, 0.03960094, -0.5110703, 0.2268317, -0.5582422, -1.045251, 0.1850204, -0.04028233, -0.5909535, 0.7779789, 0.087808, -0.6356004, -0.4810636, -0.1624816, 0.08062706, 1.156728, 0.6103623, -0.2545313, -1.050172, -0.2551279, 0.6852625, 1.325858, 0.8057712, -0.1324248, -1.250542, -0.2923134, 0.8861705],
        "bicubic alignCorners antialias 3x4->8x6": [-1.667304, -0.7231493, 0.5524879, -0.3949955, -0.6358815, 0.8609893, -1.55428, -0.7144529, 0.4272895, -0.3766587, -0.5622488, 0.7707653, -1.299565, -0.7165553, 0.1005596, -0.319196, -0.3600131, 0.5370806, -0.8902608, -0.7388059, -0.4632353, -0.2128235, -0.003473797, 0.1351726, -0.3867681, -0.707952, -1.037162, -0.1252731, 0.3377307, -0.2777827, 0.06155479, -0.5320723, -1.243342, -0.1576816, 0.3933395, -0.437914, 0.5025939, -0.1060747, -0.9265053, -0.3776943, 0.02494609, -0.2416091, 0.8883497, 0.368643, -0.4396102, -0.646071, -0.4680615, 0.07292091],
]

final class PoolResizeTests: XCTestCase {
    func testAvgPoolMatchesReference() throws {
        let x = Tensor.randn([2, 3, 7, 6], seed: 1)
        for (kernel, stride, padding) in [((2, 2), nil, (0, 0)), ((3, 3), (2, 2), (1, 1)), ((3, 2), (1, 2), (1, 0)), ((7, 6), nil, (0, 0))] as [((Int, Int), (Int, Int)?, (Int, Int))] {
            let y = try avgPool2d(x, kernel: kernel, stride: stride, padding: padding)
            let ref = referenceAvgPool(x, kernel: kernel, stride: stride ?? kernel, padding: padding)
            assertClose(y.toArray(), ref, tolerance: 1e-6, "kernel \(kernel) stride \(String(describing: stride)) padding \(padding)")
        }
        XCTAssertEqual(try avgPool2d(x, kernel: (3, 3), stride: (2, 2), padding: (1, 1)).shape, [2, 3, 4, 3])
    }

    func testAvgPoolGradients() throws {
        let x = Tensor.randn([2, 2, 5, 6], seed: 2, requiresGrad: true)
        try gradCheck("avgPool2d 3x3 s2 p1", inputs: [x]) { try avgPool2d($0[0], kernel: (3, 3), stride: (2, 2), padding: (1, 1)) }
        try gradCheck("avgPool2d 2x2", inputs: [x]) { try avgPool2d($0[0], kernel: (2, 2)) }
    }

    func testAdaptiveAvgPoolMatchesReference() throws {
        let x = Tensor.randn([2, 3, 7, 5], seed: 3)
        for (oh, ow) in [(3, 2), (1, 1), (7, 5), (4, 3), (10, 8)] {
            let y = try adaptiveAvgPool2d(x, outputSize: (oh, ow))
            XCTAssertEqual(y.shape, [2, 3, oh, ow])
            assertClose(y.toArray(), referenceAdaptiveAvgPool(x, oh, ow), tolerance: 1e-6, "\(oh)x\(ow)")
        }
        // (1, 1) is the global mean of each plane.
        let g = try adaptiveAvgPool2d(x, outputSize: (1, 1))
        for p in 0..<6 {
            let plane = x.toArray()[(p * 35)..<((p + 1) * 35)]
            XCTAssertEqual(g.data[p], plane.reduce(0, +) / 35, accuracy: 1e-5)
        }
    }

    func testAdaptiveAvgPoolGradients() throws {
        let x = Tensor.randn([1, 2, 7, 5], seed: 4, requiresGrad: true)
        try gradCheck("adaptiveAvgPool2d 3x2", inputs: [x]) { try adaptiveAvgPool2d($0[0], outputSize: (3, 2)) }
        try gradCheck("adaptiveAvgPool2d global", inputs: [x]) { try adaptiveAvgPool2d($0[0], outputSize: (1, 1)) }
    }

    func testPoolErrors() {
        let x = Tensor(zeros: [1, 1, 4, 4])
        XCTAssertThrowsError(try avgPool2d(x, kernel: (2, 2), padding: (2, 0))) { XCTAssertTrue("\($0)".contains("avgPool2d")) }
        XCTAssertThrowsError(try avgPool2d(x, kernel: (5, 5))) { XCTAssertTrue("\($0)".contains("[1, 1, 4, 4]")) }
        XCTAssertThrowsError(try adaptiveAvgPool2d(Tensor(zeros: [4, 4]), outputSize: (1, 1))) { XCTAssertTrue("\($0)".contains("adaptiveAvgPool2d")) }
    }

    // MARK: resize

    func testResizeMatchesTorchGolden() throws {
        var checked = 0
        for (key, golden) in torchResizeGolden {
            let parts = key.split(separator: " ")
            let mode = ResizeMode(rawValue: String(parts[0]))!
            let sizes = parts.last!.split(separator: "-").map { $0.replacingOccurrences(of: ">", with: "").split(separator: "x").map { Int($0)! } }
            let x = pattern([1, 1, sizes[0][0], sizes[0][1]])
            let y = try resize(x, size: (sizes[1][0], sizes[1][1]), mode: mode,
                               alignCorners: parts.contains("alignCorners"), antialias: parts.contains("antialias"))
            XCTAssertEqual(y.shape, [1, 1, sizes[1][0], sizes[1][1]], key)
            assertClose(y.toArray(), golden, tolerance: 2e-6, key)
            checked += 1
        }
        XCTAssertEqual(checked, 27)
    }

    func testResizeIsIdentityAtSameSize() throws {
        let x = Tensor.randn([1, 2, 5, 4], seed: 5)
        for mode in [ResizeMode.nearest, .bilinear, .bicubic] {
            assertClose(try resize(x, size: (5, 4), mode: mode).toArray(), x.toArray(), tolerance: 1e-6, "\(mode)")
        }
    }

    func testResizeGradients() throws {
        let x = Tensor.randn([2, 2, 5, 6], seed: 6, requiresGrad: true)
        for mode in [ResizeMode.bilinear, .bicubic] {
            for alignCorners in [false, true] {
                for size in [(3, 4), (8, 9)] {
                    try gradCheck("resize \(mode) alignCorners=\(alignCorners) \(size)", inputs: [x]) {
                        try resize($0[0], size: size, mode: mode, alignCorners: alignCorners)
                    }
                }
            }
            try gradCheck("resize \(mode) antialias", inputs: [x]) { try resize($0[0], size: (3, 2), mode: mode, antialias: true) }
        }
        try gradCheck("resize nearest", inputs: [x]) { try resize($0[0], size: (3, 11), mode: .nearest) }
    }

    func testResizeErrors() {
        let x = Tensor(zeros: [1, 1, 4, 4])
        XCTAssertThrowsError(try resize(x, size: (2, 2), mode: .nearest, alignCorners: true)) { XCTAssertTrue("\($0)".contains("resize")) }
        XCTAssertThrowsError(try resize(x, size: (0, 2), mode: .bilinear))
        XCTAssertThrowsError(try resize(Tensor(zeros: [4, 4]), size: (2, 2), mode: .bicubic)) { XCTAssertTrue("\($0)".contains("[4, 4]")) }
    }
}
