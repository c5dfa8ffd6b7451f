import CPNG
import Foundation
import TVPFormats
import TVPTensor

/// PNG files through libpng's simplified API (png_image_*), which reports errors in the image
/// struct instead of by longjmp. Any 8-bit or 16-bit PNG (gray, gray+alpha, RGB, RGBA, palette)
/// reads as 8-bit RGB; alpha is dropped (as PIL's `convert("RGB")`), 16-bit files without gamma
/// information are taken as sRGB (not linear).
public enum PNGCodec: ImageCodec {
    static let signature: [UInt8] = [137, 80, 78, 71, 13, 10, 26, 10]

    /// Whether `bytes` start with the PNG signature.
    public static func isPNG<C: Collection>(_ bytes: C) -> Bool where C.Element == UInt8 {
        bytes.count >= 8 && zip(bytes.prefix(8), signature).allSatisfy { $0 == $1 }
    }

    /// Decodes PNG bytes; errors name `file`.
    public static func decode(_ bytes: [UInt8], file: String) throws -> RGB8Image {
        guard isPNG(bytes) else {
            throw DataError(file, "not a PNG file: it starts with \(hexPrefix(bytes)), a PNG starts with 89 50 4e 47 0d 0a 1a 0a")
        }
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        let begun = bytes.withUnsafeBytes { png_image_begin_read_from_memory(&image, $0.baseAddress, $0.count) }
        guard begun != 0 else { throw failure(file, &image, "cannot read the PNG header") }
        // 16-bit files without gAMA/sRGB: treat as sRGB-encoded, so 8-bit output is value / 257.
        image.flags |= UInt32(PNG_IMAGE_FLAG_16BIT_sRGB)
        image.format = PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA   // 8-bit RGBA
        let (width, height) = (Int(image.width), Int(image.height))
        if let problem = ReaderLimits.pixelProblem(width: width, height: height) {
            png_image_free(&image)
            throw DataError(file, "PNG image of \(problem)")
        }
        var rgba = [UInt8](repeating: 0, count: width * height * 4)
        let finished = rgba.withUnsafeMutableBytes {
            png_image_finish_read(&image, nil, $0.baseAddress, Int32(width * 4), nil)
        }
        guard finished != 0 else { throw failure(file, &image, "cannot decode the \(width)×\(height) PNG image") }
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        for p in 0..<(width * height) {
            rgb[p * 3] = rgba[p * 4]
            rgb[p * 3 + 1] = rgba[p * 4 + 1]
            rgb[p * 3 + 2] = rgba[p * 4 + 2]
        }
        return try RGB8Image(width: width, height: height, pixels: rgb)
    }

    /// Writes `image` ([3, H, W] or [1, H, W] in [0, 1]; clamped and rounded to 8 bits) as an 8-bit
    /// RGB PNG, atomically: a temporary file in the same folder, then a rename.
    public static func write(_ image: Tensor, to path: String) throws {
        try write(RGB8Image(tensor: image), to: path)
    }

    /// Writes 8-bit RGB pixels as a PNG, atomically.
    public static func write(_ image: RGB8Image, to path: String) throws {
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        png.width = UInt32(image.width)
        png.height = UInt32(image.height)
        png.format = PNG_FORMAT_FLAG_COLOR
        let stride = Int32(image.width * 3)
        var size = 0
        let measured = image.pixels.withUnsafeBytes { png_image_write_to_memory(&png, nil, &size, 0, $0.baseAddress, stride, nil) }
        guard measured != 0, size > 0 else { throw failure(path, &png, "cannot encode the PNG") }
        var bytes = [UInt8](repeating: 0, count: size)
        let written = image.pixels.withUnsafeBytes { pixels in
            bytes.withUnsafeMutableBytes { png_image_write_to_memory(&png, $0.baseAddress, &size, 0, pixels.baseAddress, stride, nil) }
        }
        guard written != 0 else { throw failure(path, &png, "cannot encode the PNG") }
        try writeFileAtomically(Array(bytes.prefix(size)), to: path)
    }

    private static func failure(_ file: String, _ image: inout png_image, _ what: String) -> DataError {
        let message = withUnsafeBytes(of: image.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        png_image_free(&image)
        let hint = ["Read Error", "Not enough", "beyond end", "EOF", "truncated"].contains { message.contains($0) }
            ? " (the file looks truncated)" : ""
        return DataError(file, "\(what): libpng says \"\(message)\"\(hint)")
    }
}

/// The whole file at `path`; errors name the file.
func readFileBytes(_ path: String) throws -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else {
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        throw DataError(path, exists ? (isDirectory.boolValue ? "is a directory, not a file" : "cannot read (permissions?)") : "no such file")
    }
    return [UInt8](data)
}

/// The first bytes of a file in hex, for "not a … file" messages.
func hexPrefix(_ bytes: [UInt8]) -> String {
    bytes.isEmpty ? "nothing (empty file)" : bytes.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")
}

