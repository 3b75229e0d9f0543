using CheckpointCache.Engine.Files;
using Grpc.Core;
using FilesError = CheckpointCache.Rpc.Files.V1.FilesError;

namespace CheckpointCache.Node.Files;

/// <summary>Files-layer refusals as gRPC statuses, with the precise reason in the "files-error" trailer.</summary>
public static class FilesErrors
{
    public const string TrailerName = "files-error";

    public static RpcException ToRpc(FilesException e)
    {
        var (status, error) = e.Code switch
        {
            FilesErrorCode.NotFound => (StatusCode.NotFound, FilesError.NotFound),
            FilesErrorCode.AlreadyExists => (StatusCode.AlreadyExists, FilesError.AlreadyExists),
            FilesErrorCode.NotEmpty => (StatusCode.FailedPrecondition, FilesError.NotEmpty),
            FilesErrorCode.NotADirectory => (StatusCode.FailedPrecondition, FilesError.NotADirectory),
            FilesErrorCode.IsADirectory => (StatusCode.FailedPrecondition, FilesError.IsADirectory),
            FilesErrorCode.InvalidArgument => (StatusCode.InvalidArgument, FilesError.InvalidArgument),
            FilesErrorCode.OutOfSpace => (StatusCode.ResourceExhausted, FilesError.OutOfSpace),
            FilesErrorCode.SessionNotFound => (StatusCode.NotFound, FilesError.SessionNotFound),
            FilesErrorCode.BadHandle => (StatusCode.FailedPrecondition, FilesError.BadHandle),
            FilesErrorCode.DataLost => (StatusCode.DataLoss, FilesError.DataLost),
            FilesErrorCode.NameTooLong => (StatusCode.InvalidArgument, FilesError.NameTooLong),
            FilesErrorCode.FileTooLarge => (StatusCode.InvalidArgument, FilesError.FileTooLarge),
            _ => (StatusCode.Internal, FilesError.None),
        };
        return new RpcException(new Status(status, e.Message), new Metadata { { TrailerName, Rpc.Files.V1.FilesReflection.Descriptor.EnumTypes[0].FindValueByNumber((int)error).Name } });
    }
}
