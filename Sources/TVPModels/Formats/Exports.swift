@_exported import TVPTensor
