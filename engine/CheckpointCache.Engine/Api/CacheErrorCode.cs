namespace CheckpointCache.Engine;

/// <summary>Why the engine refused an operation; front doors map these to gRPC status codes or errno.</summary>
public enum CacheErrorCode
{
    /// <summary>An argument broke a limit (key or value too large, empty key...).</summary>
    InvalidArgument,
    /// <summary>A pinned namespace is full: the write was refused and nothing was dropped.</summary>
    OutOfSpace,
    /// <summary>No namespace of that name is configured.</summary>
    NamespaceNotFound,
    /// <summary>A streamed write was given more or fewer bytes than it declared.</summary>
    LengthMismatch,
    /// <summary>The engine is shutting down.</summary>
    ShuttingDown,
}
