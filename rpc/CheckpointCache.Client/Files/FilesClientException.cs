using CheckpointCache.Rpc.Files.V1;
using Grpc.Core;

namespace CheckpointCache.Client.Files;

/// <summary>A refused files call: the gRPC status plus the precise reason from the "files-error" trailer.</summary>
public sealed class FilesClientException(StatusCode status, FilesError error, string message, Exception? inner = null) : Exception(message, inner)
{
    public StatusCode Status { get; } = status;
    public FilesError Error { get; } = error;

    /// <summary>The node could not be reached (down, restarting, socket missing): worth retrying.</summary>
    public bool IsUnavailable => Status == StatusCode.Unavailable;

    public static FilesClientException From(RpcException e)
    {
        var error = FilesError.None;
        var name = e.Trailers.GetValue("files-error");
        if (name is not null)
        {
            var value = FilesReflection.Descriptor.EnumTypes[0].FindValueByName(name);
            if (value is not null) error = (FilesError)value.Number;
        }
        return new FilesClientException(e.StatusCode, error, e.Status.Detail, e);
    }

    public override string ToString() => $"{Status}/{Error}: {Message}";
}
