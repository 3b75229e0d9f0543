namespace CheckpointCache.Engine.Files;

/// <summary>A refusal of the files layer; the message names the path and the rule that was broken.</summary>
public sealed class FilesException(FilesErrorCode code, string message, Exception? inner = null) : Exception(message, inner)
{
    public FilesErrorCode Code { get; } = code;
}
