import Foundation
import TVPData
import TVPFormats
import TVPTensor

extension TVPRunCommand {
    public static let fetchUsage = """
    Usage:
      tvp-run fetch NAME... [--cache DIR] [--offline] [--manifest PATH]
                                       fetch and verify the named assets (and the assets they
                                       require) into DIR/assets/NAME/
      tvp-run fetch --list [--cache DIR] [--manifest PATH]
                                       list the manifest's assets: kind, size, cache state, licence

    Options:
      --cache DIR       cache folder (default: $TVP_CACHE, else ~/.cache/tvp)
      --offline         use only the cache and local files, never the network (also TVP_OFFLINE=1)
      --manifest PATH   the asset manifest (default: $TVP_MANIFEST, else ./datasets.manifest)
    """

    /// `tvp-run fetch`: exit 0 when every named asset is cached and verified, 1 when a file could not
    /// be fetched, 2 for a usage error, an unknown asset name or a manifest that does not load.
    public static func runFetch(_ args: [String]) -> Int32 {
        func fail(_ message: String, _ code: Int32 = 2) -> Int32 {
            FileHandle.standardError.write(Data("tvp-run fetch: \(message)\n".utf8))
            return code
        }
        let environment = ProcessInfo.processInfo.environment
        var names: [String] = []
        var list = false
        var fetcher = Fetcher()
        var manifestPath = environment["TVP_MANIFEST"].flatMap { $0.isEmpty ? nil : $0 } ?? "datasets.manifest"
        var i = 0
        while i < args.count {
            let arg = args[i]
            switch arg {
            case "--help", "-h":
                print(fetchUsage)
                return 0
            case "--list": list = true
            case "--offline": fetcher.offline = true
            case "--cache", "--manifest":
                guard i + 1 < args.count, !args[i + 1].hasPrefix("--") else { return fail("\(arg) needs a value") }
                if arg == "--cache" { fetcher.cacheDirectory = args[i + 1] } else { manifestPath = args[i + 1] }
                i += 1
            default:
                if arg.hasPrefix("-") {
                    let guess = suggest(arg, from: ["--list", "--offline", "--cache", "--manifest", "--help"])
                    return fail("unknown option '\(arg)'" + (guess.map { "; did you mean '\($0)'?" } ?? " (see tvp-run fetch --help)"))
                }
                names.append(arg)
            }
            i += 1
        }
        if list && !names.isEmpty { return fail("--list takes no asset names") }
        if !list && names.isEmpty { return fail("name at least one asset, or use --list\n\n" + fetchUsage) }

        let manifest: Manifest
        do { manifest = try Manifest.load(path: manifestPath) } catch { return fail("\(error)") }
        if list {
            print(assetTable(manifest, fetcher))
            return 0
        }
        let assets: [Asset]
        do { assets = try manifest.withRequirements(names) } catch { return fail("\(error)") }
        var failures = 0
        for asset in assets {
            do {
                try fetcher.fetch(asset)
            } catch {
                FileHandle.standardError.write(Data("\(error)\n".utf8))
                failures += 1
            }
        }
        let assetsFolder = fetcher.assetsDirectory
        if failures > 0 { return fail("\(failures) of \(assets.count) assets could not be fetched", 1) }
        print("\(assets.count) asset\(assets.count == 1 ? "" : "s") cached and verified in \(assetsFolder)")
        return 0
    }

    /// One line per asset: name, kind, total size, cache state, licence (shortened).
    static func assetTable(_ manifest: Manifest, _ fetcher: Fetcher) -> String {
        var rows = [["ASSET", "KIND", "SIZE", "CACHE", "LICENCE"]]
        for asset in manifest.assets {
            let states = asset.files.map { fetcher.state(of: $0, in: asset) }
            let verified = states.filter { $0 == .verified }.count
            let present = states.filter { $0 != .missing }.count
            let cache = verified == states.count ? "cached"
                : present == 0 ? "missing"
                : present == states.count ? "unverified"
                : "partial \(present)/\(states.count)"
            let licence = asset.licence.count > 60 ? String(asset.licence.prefix(59)) + "…" : asset.licence
            rows.append([asset.name, asset.kind.rawValue, asset.totalSize.map(formatBytes) ?? "unknown", cache, licence])
        }
        let widths = (0..<4).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            (0..<4).map { row[$0].padding(toLength: widths[$0] + 2, withPad: " ", startingAt: 0) }.joined() + row[4]
        }.joined(separator: "\n")
    }
}
