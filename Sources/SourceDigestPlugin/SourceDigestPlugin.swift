import Foundation
import PackagePlugin

/// Generates `SourceDigests.swift` for the target it is applied to: the SHA-256 of every source file
/// of that target and of the library modules it depends on, directly or not (by path under
/// `Sources/`), so a stage kind's cache key can name the code it runs instead of a hand-bumped
/// version string. The build reruns it whenever one of those files changes. Modules above the
/// target (the command line) are left out: editing them rebuilds nothing below, and no stage key
/// can name them.
@main
struct SourceDigestPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let sources = context.package.directoryURL.appendingPathComponent("Sources")
        var files: [URL] = []
        for module in ([target] + target.recursiveTargetDependencies).compactMap({ $0 as? SourceModuleTarget }) where module.kind == .generic {
            files += module.sourceFiles.filter { $0.type == .source || $0.type == .header }.map(\.url)
        }
        files = files.filter { $0.path.hasPrefix(sources.path + "/") }   // not test-support targets under Tests/
        files.sort { $0.path < $1.path }
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("SourceDigests.swift")
        return [.buildCommand(displayName: "Hashing the sources of \(files.count) files for stage keys",
                              executable: try context.tool(named: "source-digest").url,
                              arguments: [output.path, sources.path] + files.map(\.path),
                              inputFiles: files, outputFiles: [output])]
    }
}
