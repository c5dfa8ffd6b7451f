import Foundation
import XCTest

/// A real downloaded asset file (never committed): `$TVP_ASSETS/<asset>/<file>`, by default under
/// ~/.cache/tvp/assets, where `tvp-run fetch` puts it; the test skips, saying how to get it, when
/// the file is absent.
public func realAsset(_ asset: String, _ file: String) throws -> String {
    let root = ProcessInfo.processInfo.environment["TVP_ASSETS"] ?? (NSHomeDirectory() + "/.cache/tvp/assets")
    let path = "\(root)/\(asset)/\(file)"
    guard FileManager.default.fileExists(atPath: path) else {
        throw XCTSkip("real asset \(asset)/\(file) not found under \(root) (set TVP_ASSETS or run `tvp-run fetch \(asset)`)")
    }
    return path
}
