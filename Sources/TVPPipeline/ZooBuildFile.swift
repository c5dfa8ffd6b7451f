import Foundation
import TVPFormats
import TVPPrompting
import TVPZoo

/// A zoo build file (Pipelines/zoo.yaml): `tvp-run FILE` rebuilds the embedded zoo instead of
/// running a prompt pipeline. Recognised by a top-level `build: zoo`.
///
///     build: zoo
///     output: zoo/connectors        # relative to this file
///     scale: full                   # full | tiny
///     models: [zoo-effnet-mlp, …]   # default: all four
///
/// The build keeps its own resumable cache (renders, features, per-epoch connector checkpoints)
/// under the cache folder's `zoo-build/`.
struct ZooBuildFile {
    var output: String
    var scale: String
    var models: [String]

    static let keys = ["build", "description", "output", "scale", "models"]

    /// The build file at `path`, or nil when the file is not one (no top-level `build:`).
    static func load(path: String) throws -> ZooBuildFile? {
        let document = try YAMLDocument.load(path: path)
        guard let build = document.root["build"] else { return nil }
        guard try build.string() == "zoo" else {
            throw YAMLError("'build' names what the file builds; the only one is 'zoo', found \(build.kindDescription)", at: build.mark)
        }
        try document.root.checkKeys(allowed: keys)
        let folder = (path as NSString).deletingLastPathComponent
        let outputNode = try document.root.required("output")
        let output = try outputNode.string()
        var file = ZooBuildFile(output: output.hasPrefix("/") ? output : (folder as NSString).appendingPathComponent(output),
                                scale: "full", models: Zoo.modelNames)
        if let scale = document.root["scale"] {
            file.scale = try scale.string()
            guard ["full", "tiny"].contains(file.scale) else { throw YAMLError("'scale' is full or tiny, found \(scale.kindDescription)", at: scale.mark) }
        }
        if let models = document.root["models"] {
            file.models = try models.items().map { node in
                let name = try node.string()
                guard Zoo.modelNames.contains(name) else {
                    throw YAMLError("unknown zoo model '\(name)'" + (suggest(name, from: Zoo.modelNames).map { "; did you mean '\($0)'?" } ?? "")
                                    + " (the zoo has \(Zoo.modelNames.joined(separator: ", ")))", at: node.mark)
                }
                return name
            }
        }
        return file
    }

    /// The `tvp-run zoo build` arguments of this file plus the command line's `--cache`/`--offline`/`--set scale=…`.
    func arguments(cache: String?, offline: Bool) -> [String] {
        var args = ["build", "--output", output, "--scale", scale, "--models", models.joined(separator: ",")]
        if let cache { args += ["--cache", cache] }
        if offline { args.append("--offline") }
        return args
    }
}
