namespace CheckpointCache.Engine.Files;

/// <summary>
/// Orders the versions of a path across nodes: a hybrid logical clock (microseconds since the epoch, advanced past
/// every stamp this node has seen) and the member that made the version, which breaks ties. A replica is replaced
/// only by a newer stamp, and a delete's stamp (a tombstone) keeps older copies from coming back.
/// </summary>
public readonly record struct FileStamp(long Clock, string Origin) : IComparable<FileStamp>
{
    public static readonly FileStamp None = new(0, "");

    public bool IsNone => Clock == 0;

    public int CompareTo(FileStamp other)
    {
        int c = Clock.CompareTo(other.Clock);
        return c != 0 ? c : string.CompareOrdinal(Origin ?? "", other.Origin ?? "");
    }

    public bool IsNewerThan(FileStamp other) => CompareTo(other) > 0;

    public override string ToString() => $"{Clock}@{Origin}";
}
