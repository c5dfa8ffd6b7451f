@_exported import TVPData
@_exported import TVPModels
