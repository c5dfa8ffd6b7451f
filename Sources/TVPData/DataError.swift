import TVPFormats

/// A data file that cannot be used: which file, where in it when known, and what was expected. The
/// same error as the format readers' (`FormatError`), named for the data layer.
public typealias DataError = FormatError
