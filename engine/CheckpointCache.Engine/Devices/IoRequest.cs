using FASTER.core;

namespace CheckpointCache.Engine.Devices;

internal enum IoKind : byte
{
    Read,
    Write,
    RemoveSegment,
}

/// <summary>
/// One queued device operation (<see cref="IsPiece"/>: one piece of a <see cref="SplitRead"/>). A struct so that queueing an I/O allocates nothing beyond what
/// FASTER already allocated for its context.
/// </summary>
internal readonly record struct IoRequest(
    IoKind Kind,
    int Segment,
    ulong Offset,
    nint Buffer,
    uint Length,
    DeviceIOCompletionCallback? Callback,
    object? Context,
    AsyncCallback? RemoveCallback = null,
    IAsyncResult? RemoveResult = null,
    bool IsPiece = false);
