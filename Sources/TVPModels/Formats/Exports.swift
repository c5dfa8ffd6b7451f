@_exported import TVPTensor
@_exported import TVPFormats
