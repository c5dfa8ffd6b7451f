import Foundation
import TVPData
import TVPPipeline
import XCTest

/// `report.html` rendered by headless Chromium: the page is drawn, with its text, its inline SVG
/// loss curves and its embedded PNG prompts. Skips when no Chromium is installed
/// (Debian: `apt-get install chromium`; or set TVP_CHROMIUM to the browser).
final class ReportRenderTests: XCTestCase {
    /// A toy run with `overrides` (and `multirun`) for a test that renders what it wrote: the browser
    /// (skips when there is none), the toy world (removed after the test) and the run's folder.
    func toyRun(_ overrides: [String], multirun: [String] = []) throws -> (browser: String, world: ToyWorld, folder: String) {
        let browser = try Self.chromium()
        let world = try ToyWorld.make()
        addTeardownBlock { world.remove() }
        let result = try world.run(try world.session(overrides: overrides, multirun: multirun, backend: TinyBackend()))
        XCTAssertEqual(result.exitCode, 0, "\(result.execution.failures)")
        return (browser, world, try XCTUnwrap(result.folder))
    }

    func testReportHTMLRendersTextCurvesAndPromptPictures() throws {
        let (browser, world, folder) = try toyRun(["evaluate.protocols=[zero-shot-official, tvp]", "expect=[]"])
        let report = folder + "/report.html"

        let shot = world.root + "/report.png"
        let profile = world.root + "/chromium-profile"
        // Tall enough for the provenance and the tables (with intervals and the paired differences) above the curves and prompts.
        let status = try Self.run(browser, ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--user-data-dir=\(profile)",
                                            "--window-size=1100,2600", "--screenshot=\(shot)", URL(fileURLWithPath: report).absoluteString])
        XCTAssertEqual(status, 0, "chromium failed")
        let image = try PNGCodec.decode(Array(try Data(contentsOf: URL(fileURLWithPath: shot))), file: shot)
        XCTAssertEqual([image.width, image.height], [1100, 2600])

        var painted = 0, text = 0, curve = 0, colourful = 0
        for p in stride(from: 0, to: image.pixels.count, by: 3) {
            let r = Int(image.pixels[p]), g = Int(image.pixels[p + 1]), b = Int(image.pixels[p + 2])
            if r < 250 || g < 250 || b < 250 { painted += 1 }
            if r < 80 && g < 80 && b < 80 { text += 1 }                                      // body text #222
            if abs(r - 0x1f) < 40 && abs(g - 0x77) < 40 && abs(b - 0xb4) < 40 { curve += 1 }  // first curve #1f77b4
            if max(r, g, b) - min(r, g, b) > 60 { colourful += 1 }                               // prompt frame, curves
        }
        let total = image.width * image.height
        XCTAssertGreaterThan(painted, total / 50, "the page is (nearly) blank: \(painted) of \(total) pixels painted")
        XCTAssertGreaterThan(text, 2_000, "no text drawn (\(text) dark pixels)")
        XCTAssertGreaterThan(curve, 50, "no loss curve drawn (\(curve) pixels of its colour)")
        XCTAssertGreaterThan(colourful, 10_000, "no prompt picture drawn (\(colourful) saturated pixels)")
    }

    func testSweepSummaryHTMLRendersItsTableAndAPlotAgainstTheSweptValue() throws {
        let (browser, world, folder) = try toyRun(["evaluate.protocols=[zero-shot-official, tvp]", "expect=[]", "report.images=false"],
                                                  multirun: ["train.lr=0.05,0.5,5"])
        let (text, colourful) = try Self.renderSummary(folder + "/summary.html", browser: browser, in: world.root,
                                                       size: "900,900")
        XCTAssertGreaterThan(text, 2_000, "no table text drawn (\(text) dark pixels)")
        // The toy models score the same at every learning rate: the lines overlap, a legend and one line's length show.
        XCTAssertGreaterThan(colourful, 500, "no line drawn against train.lr (\(colourful) coloured pixels)")
    }

    func testHalvingSummaryHTMLRendersEveryPointAndTheRungPlot() throws {
        let (browser, world, folder) = try toyRun([
            "evaluate.protocols=[zero-shot-official, vp]", "expect=[]", "report.images=false", "train.optimizer=adam", "train.validation=2",
            "train.validate_every=1", "+sweep={train.lr: [0.001, 0.01, 0.1, 1], prune: halving, rungs: [1, 2]}",
        ])
        let summary = folder + "/summary.html"
        let html = try String(contentsOfFile: summary, encoding: .utf8)
        XCTAssertEqual(html.components(separatedBy: "stopped after 1 steps").count - 1, 2, "two of four points stopped at the first rung")
        let (text, colourful) = try Self.renderSummary(summary, browser: browser, in: world.root, size: "1400,1400")
        XCTAssertGreaterThan(text, 3_000, "no table text drawn (\(text) dark pixels)")
        XCTAssertGreaterThan(colourful, 500, "no rung or metric line drawn (\(colourful) coloured pixels)")
    }

    /// A screenshot of a sweep's `summary.html` at `size` (`W,H`): its dark (text) pixels and its
    /// coloured ones that are not the blue links (plot lines).
    static func renderSummary(_ summary: String, browser: String, in folder: String, size: String) throws -> (text: Int, colourful: Int) {
        let shot = folder + "/summary.png"
        let status = try run(browser, ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--user-data-dir=\(folder)/profile",
                                       "--window-size=\(size)", "--screenshot=\(shot)", URL(fileURLWithPath: summary).absoluteString])
        XCTAssertEqual(status, 0, "chromium failed")
        let image = try PNGCodec.decode(Array(try Data(contentsOf: URL(fileURLWithPath: shot))), file: shot)
        var text = 0, colourful = 0
        for p in stride(from: 0, to: image.pixels.count, by: 3) {
            let r = Int(image.pixels[p]), g = Int(image.pixels[p + 1]), b = Int(image.pixels[p + 2])
            if r < 80 && g < 80 && b < 80 { text += 1 }
            if max(r, g, b) - min(r, g, b) > 60 && !(b > 150 && r < 80 && g < 80) { colourful += 1 }
        }
        return (text, colourful)
    }

    /// Chromium from `$TVP_CHROMIUM` or the PATH; skips the test when there is none.
    static func chromium() throws -> String {
        if let path = ProcessInfo.processInfo.environment["TVP_CHROMIUM"], !path.isEmpty { return path }
        let folders = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":").map(String.init)
        for name in ["chromium", "chromium-browser", "google-chrome", "chrome"] {
            for folder in folders where FileManager.default.isExecutableFile(atPath: folder + "/" + name) { return folder + "/" + name }
        }
        throw XCTSkip("no headless Chromium (install it with `apt-get install chromium`, or set TVP_CHROMIUM)")
    }

    /// Runs `binary` with output discarded, killing it after a minute; returns its exit status.
    static func run(_ binary: String, _ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        return process.terminationStatus
    }
}
