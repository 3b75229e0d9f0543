namespace CheckpointCache.Client.DataSocket;

/// <summary>The data socket could not be reached or broke mid-call; the call may be retried over gRPC.</summary>
public sealed class DataSocketUnavailableException(string message, Exception inner) : Exception(message, inner);
