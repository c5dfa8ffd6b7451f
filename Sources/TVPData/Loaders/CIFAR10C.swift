import TVPTensor

/// CIFAR-10-C (Hendrycks & Dietterich): one `<corruption>.npy` per corruption, uint8 [5·M, 32, 32, 3]
/// (M = 10,000: the CIFAR-10 test set at severity 1, then 2, … 5) and `labels.npy` [5·M].
public enum CIFAR10C {
    /// The 19 corruption files of the release.
    public static let corruptions = [
        "gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "defocus_blur", "glass_blur",
        "motion_blur", "zoom_blur", "gaussian_blur", "snow", "frost", "fog", "brightness", "spatter",
        "contrast", "elastic_transform", "pixelate", "jpeg_compression", "saturate",
    ]

    /// The images of one severity (1…5): rows (severity − 1)·M ..< severity·M, where M = rows / 5,
    /// up to `limit` of them. Images [N, 3, 32, 32] = byte / 255 (HWC in the file, CHW here).
    public static func load(images imagesPath: String, labels labelsPath: String, severity: Int,
                            limit: Int? = nil) throws -> ImageClassificationSet {
        guard (1...5).contains(severity) else { throw DataError(imagesPath, "severity \(severity) is outside 1...5") }
        let images = try NPYFile(imagesPath)
        let labels = try NPYFile(labelsPath)
        guard images.element == .uint8, images.shape.count == 4, images.shape[3] == 3 else {
            throw DataError(imagesPath, "expected uint8 images [N, H, W, 3], found \(images.element.rawValue) \(images.shape)")
        }
        guard labels.shape == [images.shape[0]] else {
            throw DataError(labelsPath, "labels shape \(labels.shape) does not match the \(images.shape[0]) images of \(imagesPath)")
        }
        guard images.shape[0] % 5 == 0 else {
            throw DataError(imagesPath, "\(images.shape[0]) rows are not 5 equal severities")
        }
        let perSeverity = images.shape[0] / 5
        let n = min(limit ?? perSeverity, perSeverity)
        let rows = ((severity - 1) * perSeverity)..<((severity - 1) * perSeverity + n)
        let labelValues = try labels.integers(rows)
        if let bad = labelValues.firstIndex(where: { $0 < 0 || $0 >= 10 }) {
            throw DataError(labelsPath, "label \(labelValues[bad]) at row \(rows.lowerBound + bad) is outside the 10 classes")
        }
        let (h, w) = (images.shape[1], images.shape[2])
        let raw = try images.rawRows(rows)
        let out = Tensor(uninitialized: [n, 3, h, w])
        let plane = h * w
        for i in 0..<n {
            let src = i * plane * 3
            let dst = out.data + i * 3 * plane
            for p in 0..<plane {
                dst[p] = Float(raw[src + p * 3]) / 255
                dst[plane + p] = Float(raw[src + p * 3 + 1]) / 255
                dst[2 * plane + p] = Float(raw[src + p * 3 + 2]) / 255
            }
        }
        return try ImageClassificationSet(images: out, labels: labelValues, classNames: CIFAR.cifar10Classes)
    }
}
