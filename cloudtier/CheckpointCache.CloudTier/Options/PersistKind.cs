namespace CheckpointCache.CloudTier.Options;

/// <summary>Which committed files a writeback store uploads.</summary>
public enum PersistKind
{
    /// <summary>Every committed file.</summary>
    All,
    /// <summary>Files whose path matches one of Patterns.</summary>
    Patterns,
    /// <summary>Files under every Nth checkpoint directory (by the step number in its name), plus files matching Patterns.</summary>
    EveryNthCheckpointDirectory,
}
