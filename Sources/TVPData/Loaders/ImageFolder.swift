import Foundation

/// Folders of images, one subfolder per class (torchvision's ImageFolder layout):
/// `root/<class>/<image>.{png,jpg,jpeg}`. Classes are the subfolder names in sorted order; files
/// are taken in sorted order within each class; hidden entries are ignored.
public enum ImageFolder {
    public static let imageExtensions: Set<String> = ["png", "jpg", "jpeg"]

    public static func scan(_ root: String, size: ImageSize? = nil) throws -> LabeledImageFiles {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw DataError(root, "no such folder (expected one subfolder per class)")
        }
        let entries = try fm.contentsOfDirectory(atPath: root).filter { !$0.hasPrefix(".") }.sorted()
        let classes = entries.filter { var d: ObjCBool = false; return fm.fileExists(atPath: root + "/" + $0, isDirectory: &d) && d.boolValue }
        guard !classes.isEmpty else { throw DataError(root, "no class subfolders") }
        var paths: [String] = []
        var labels: [Int] = []
        for (label, name) in classes.enumerated() {
            let folder = root + "/" + name
            let images = try fm.contentsOfDirectory(atPath: folder)
                .filter { !$0.hasPrefix(".") && imageExtensions.contains(($0 as NSString).pathExtension.lowercased()) }
                .sorted()
            guard !images.isEmpty else { throw DataError(folder, "class folder '\(name)' holds no .png/.jpg/.jpeg images") }
            paths += images.map { folder + "/" + $0 }
            labels += Array(repeating: label, count: images.count)
        }
        return try LabeledImageFiles(files: ImageFiles(paths: paths, size: size), labels: labels, classNames: classes)
    }
}

/// ImageNette (fastai): an ImageFolder whose class folders are WordNet ids (`n01440764`, …).
public enum ImageNette {
    /// WordNet id → readable class name for the ten classes.
    public static let classNames: [String: String] = [
        "n01440764": "tench", "n02102040": "English springer", "n02979186": "cassette player",
        "n03000684": "chain saw", "n03028079": "church", "n03394916": "French horn",
        "n03417042": "garbage truck", "n03425413": "gas pump", "n03445777": "golf ball", "n03888605": "parachute",
    ]

    /// Scans `root` (e.g. `imagenette2-160/train`) like `ImageFolder.scan`, naming the classes in words.
    public static func scan(_ root: String, size: ImageSize? = nil) throws -> LabeledImageFiles {
        let set = try ImageFolder.scan(root, size: size)
        return try LabeledImageFiles(files: set.files, labels: set.labels, classNames: set.classNames.map { classNames[$0] ?? $0 })
    }
}
