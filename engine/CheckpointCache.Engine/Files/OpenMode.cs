namespace CheckpointCache.Engine.Files;

/// <summary>How a file is opened, as open(2) flags say it.</summary>
[Flags]
public enum OpenMode
{
    Read = 1,
    Write = 2,
    ReadWrite = Read | Write,
    /// <summary>O_CREAT: create the file when it does not exist (needs Write).</summary>
    Create = 4,
    /// <summary>O_EXCL: with Create, fail with AlreadyExists when it exists.</summary>
    Exclusive = 8,
    /// <summary>O_TRUNC: start from an empty file (staged like any write: published at commit).</summary>
    Truncate = 16,
}
