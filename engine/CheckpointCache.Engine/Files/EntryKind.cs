namespace CheckpointCache.Engine.Files;

public enum EntryKind
{
    File = 1,
    Directory = 2,
}
