import Foundation
import TVPPipeline
import XCTest

final class PromptLayoutTests: XCTestCase {
    /// The oracle: out[b, c, y, x] = image + prompt where the layout puts it, by plain loops.
    func expected(_ layout: PromptLayout, prompt: Tensor, images: Tensor, indices: [Int], seed: Int) -> [Float] {
        let s = layout.spec.imageSize, f = layout.spec.frame
        var out = images.toArray()
        for b in indices.indices { for c in 0..<3 { for y in 0..<s { for x in 0..<s {
            let at = ((b * 3 + c) * s + y) * s + x
            switch layout.spec.kind {
            case .padding, .pad:
                if y < f || y >= s - f || x < f || x >= s - f { out[at] += prompt[c, y, x] }
            case .fixedPatch:
                if y < f && x < f { out[at] += prompt[c, y, x] }
            case .randomPatch:
                let origin = layout.patchOrigin(index: indices[b], seed: seed)
                let (py, px) = (y - origin.y, x - origin.x)
                if py >= 0 && py < f && px >= 0 && px < f { out[at] += prompt[c, py, px] }
            }
        } } } }
        return out
    }

    func testEveryKindAddsThePromptWhereItBelongsAndGradientsFollowTheMask() throws {
        for kind in PromptKind.allCases {
            let layout = PromptLayout(PromptSpec(kind: kind, imageSize: 8, frame: kind == .padding || kind == .pad ? 2 : 3))
            let prompt = Tensor.randn(layout.shape, seed: 1, requiresGrad: true)
            let images = Tensor.uniform([3, 3, 8, 8], seed: 2)
            let indices = [4, 0, 9]
            let out = try layout.apply(prompt, to: images, indices: indices, seed: 5)
            let want = expected(layout, prompt: prompt.detached(), images: images, indices: indices, seed: 5)
            XCTAssertEqual(zip(out.toArray(), want).map { abs($0 - $1) }.max()!, 0, accuracy: 1e-6, "\(kind)")
            XCTAssertEqual(Int(layout.mask().toArray().reduce(0, +)), layout.learnableCount, "\(kind)")

            try out.sum().backward()
            let grad = try XCTUnwrap(prompt.grad).toArray()
            if kind == .randomPatch {
                XCTAssertEqual(grad, Array(repeating: 3, count: grad.count), "each of the 3 images adds the whole patch once")
            } else {
                XCTAssertEqual(grad, layout.mask().toArray().map { $0 * 3 }, "\(kind): gradient only inside the mask")
            }
        }
        let patch = PromptLayout(PromptSpec(kind: .randomPatch, imageSize: 8, frame: 3))
        XCTAssertEqual(patch.patchOrigin(index: 4, seed: 5).y, patch.patchOrigin(index: 4, seed: 5).y, "positions are fixed per sample")
        XCTAssertThrowsError(try patch.apply(Tensor(zeros: [3, 8, 8]), to: Tensor(zeros: [1, 3, 8, 8]), indices: [0], seed: 0))
    }

    func testPictureMapsZeroToGrey() throws {
        let layout = PromptLayout(PromptSpec(kind: .padding, imageSize: 6, frame: 1))
        let prompt = Tensor(zeros: [3, 6, 6])
        prompt.data[0] = 2
        prompt.data[1] = -1
        let picture = try layout.picture(prompt).toArray()
        XCTAssertEqual(Array(picture.prefix(3)), [1, 0.25, 0.5])
    }

    func testCorruptionsStayInRangeAndAreSeeded() throws {
        let images = Tensor.uniform([2, 3, 4, 4], seed: 3)
        for name in CorruptionSpec.names {
            let a = try corrupt(images, name: name, severity: 5, seed: 1), b = try corrupt(images, name: name, severity: 5, seed: 1)
            XCTAssertEqual(a.toArray(), b.toArray())
            XCTAssertTrue(a.toArray().allSatisfy { $0 >= 0 && $0 <= 1 })
            XCTAssertNotEqual(a.toArray(), images.toArray(), name)
        }
        XCTAssertThrowsError(try corrupt(images, name: "fog", severity: 1, seed: 0))
        XCTAssertThrowsError(try corrupt(images, name: "contrast", severity: 6, seed: 0))
    }
}
