import Foundation
import TVPFormats
import TVPTensor

/// CIFAR-10 and CIFAR-100 (32×32 RGB; each image is 3072 bytes: the R plane, then G, then B, each
/// row-major), from the binary batches or the Python pickle batches. Images [N, 3, 32, 32] = byte / 255.
public enum CIFAR {
    public static let cifar10Classes = ["airplane", "automobile", "bird", "cat", "deer",
                                        "dog", "frog", "horse", "ship", "truck"]
    static let imageBytes = 3072

    /// Which label to read.
    public enum Labels: Sendable {
        /// CIFAR-10: one label byte per binary record; key `labels` in pickles.
        case cifar10
        /// CIFAR-100's 100 fine classes: the second of two label bytes; key `fine_labels`.
        case cifar100Fine
        /// CIFAR-100's 20 superclasses: the first of two label bytes; key `coarse_labels`.
        case cifar100Coarse

        var labelBytes: Int { self == .cifar10 ? 1 : 2 }
        var byteIndex: Int { self == .cifar100Fine ? 1 : 0 }
        var pickleKey: String {
            switch self {
            case .cifar10: return "labels"
            case .cifar100Fine: return "fine_labels"
            case .cifar100Coarse: return "coarse_labels"
            }
        }
        /// The key of the class names in `batches.meta` (CIFAR-10) or `meta` (CIFAR-100).
        public var metaKey: String {
            switch self {
            case .cifar10: return "label_names"
            case .cifar100Fine: return "fine_label_names"
            case .cifar100Coarse: return "coarse_label_names"
            }
        }
    }

    /// Binary batches (`data_batch_N.bin`, `test_batch.bin`; CIFAR-100 `train.bin`, `test.bin`):
    /// records of label byte(s) then 3072 pixel bytes, read in file order up to `limit` images.
    public static func loadBinary(_ paths: [String], labels: Labels, classNames: [String], limit: Int? = nil) throws -> ImageClassificationSet {
        let record = labels.labelBytes + imageBytes
        var pixels: [UInt8] = []
        var labelValues: [Int] = []
        for path in paths where labelValues.count < (limit ?? Int.max) {
            let bytes = try readFileBytes(path)
            guard !bytes.isEmpty, bytes.count % record == 0 else {
                throw DataError(path, "\(bytes.count) bytes is not a whole number of \(record)-byte records (\(labels.labelBytes) label byte(s) + 3072 pixels); truncated, or the wrong CIFAR variant?")
            }
            let n = min(bytes.count / record, (limit ?? Int.max) - labelValues.count)
            for i in 0..<n {
                let label = Int(bytes[i * record + labels.byteIndex])
                guard label < classNames.count else {
                    throw DataError(path, "record \(i): label \(label) is outside the \(classNames.count) classes")
                }
                labelValues.append(label)
                pixels.append(contentsOf: bytes[(i * record + labels.labelBytes)..<((i + 1) * record)])
            }
        }
        return try makeSet(pixels, labelValues, classNames)
    }

    /// Class names from a binary release's text file (`batches.meta.txt`, `fine_label_names.txt`):
    /// one per line, blank lines ignored.
    public static func readNameList(_ path: String) throws -> [String] {
        let text = String(decoding: try readFileBytes(path), as: UTF8.self)
        let names = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !names.isEmpty else { throw DataError(path, "no class names") }
        return names
    }

    /// Python batches (`data_batch_N`, `test_batch`; CIFAR-100 `train`, `test`): pickled dicts with
    /// `data` (a uint8 numpy array [N, 3072]) and the label list `labels.pickleKey`.
    public static func loadPython(_ paths: [String], labels: Labels, classNames: [String], limit: Int? = nil) throws -> ImageClassificationSet {
        var pixels: [UInt8] = []
        var labelValues: [Int] = []
        for path in paths where labelValues.count < (limit ?? Int.max) {
            let dict = try pickledDict(path)
            guard let dataValue = PythonPickle.lookup(dict, "data") else { throw DataError(path, "the batch has no 'data' entry; keys: \(keys(dict))") }
            let array = try NumpyArray(dataValue, file: path, what: "'data'")
            let data = try array.uint8Values(file: path, what: "'data'")
            guard array.shape.count == 2, array.shape[1] == imageBytes else {
                throw DataError(path, "'data' has shape \(array.shape), expected [N, 3072]")
            }
            guard case .list(let list)? = PythonPickle.lookup(dict, labels.pickleKey) else {
                throw DataError(path, "the batch has no '\(labels.pickleKey)' list; keys: \(keys(dict))")
            }
            guard list.items.count == array.shape[0] else {
                throw DataError(path, "\(list.items.count) '\(labels.pickleKey)' for \(array.shape[0]) images")
            }
            let n = min(array.shape[0], (limit ?? Int.max) - labelValues.count)
            for (i, item) in list.items.prefix(n).enumerated() {
                guard case .int(let label) = item, label >= 0, label < classNames.count else {
                    throw DataError(path, "'\(labels.pickleKey)'[\(i)] is not a class index in 0..<\(classNames.count)")
                }
                labelValues.append(label)
            }
            pixels.append(contentsOf: data.prefix(n * imageBytes))
        }
        return try makeSet(pixels, labelValues, classNames)
    }

    /// Class names from `batches.meta` (CIFAR-10) or `meta` (CIFAR-100).
    public static func readPythonMeta(_ path: String, labels: Labels) throws -> [String] {
        let dict = try pickledDict(path)
        guard case .list(let list)? = PythonPickle.lookup(dict, labels.metaKey) else {
            throw DataError(path, "no '\(labels.metaKey)' list; keys: \(keys(dict))")
        }
        return try list.items.enumerated().map { i, item in
            guard let name = PythonPickle.text(item) else { throw DataError(path, "'\(labels.metaKey)'[\(i)] is \(item.typeName), not a name") }
            return name
        }
    }

    private static func pickledDict(_ path: String) throws -> PickleDict {
        let value = try PythonPickle.load(readFileBytes(path), file: path)
        guard case .dict(let dict) = value else { throw DataError(path, "expected a pickled dict, found \(value.typeName)") }
        return dict
    }

    private static func keys(_ dict: PickleDict) -> String {
        dict.entries.map { PythonPickle.text($0.key) ?? $0.key.typeName }.joined(separator: ", ")
    }

    private static func makeSet(_ pixels: [UInt8], _ labels: [Int], _ classNames: [String]) throws -> ImageClassificationSet {
        let images = Tensor(uninitialized: [labels.count, 3, 32, 32])
        for i in 0..<pixels.count { images.data[i] = Float(pixels[i]) / 255 }
        return try ImageClassificationSet(images: images, labels: labels, classNames: classNames)
    }
}
