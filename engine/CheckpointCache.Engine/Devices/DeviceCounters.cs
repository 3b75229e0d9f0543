namespace CheckpointCache.Engine.Devices;

/// <summary>
/// What a <see cref="DirectFileDevice"/> has done since it was opened: lets benchmarks compute read
/// amplification (device bytes per value byte) and lets tests check FASTER's alignment contract.
/// </summary>
public sealed class DeviceCounters
{
    internal long reads, readBytes, writes, writeBytes, syncs, failures, misaligned;

    public long Reads => Volatile.Read(ref reads);
    public long ReadBytes => Volatile.Read(ref readBytes);
    public long Writes => Volatile.Read(ref writes);
    public long WriteBytes => Volatile.Read(ref writeBytes);
    /// <summary>fdatasync calls made by the group commit.</summary>
    public long Syncs => Volatile.Read(ref syncs);
    /// <summary>I/Os completed with a non-zero error code.</summary>
    public long Failures => Volatile.Read(ref failures);
    /// <summary>Requests refused because the buffer, offset or length was not sector-aligned.</summary>
    public long Misaligned => Volatile.Read(ref misaligned);

    public override string ToString()
        => $"reads={Reads} readBytes={ReadBytes} writes={Writes} writeBytes={WriteBytes} syncs={Syncs} failures={Failures} misaligned={Misaligned}";
}
