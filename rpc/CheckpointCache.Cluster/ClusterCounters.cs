using CheckpointCache.Rpc.Peer.V1;

namespace CheckpointCache.Cluster;

/// <summary>What the cluster layer did, for metrics and node stats. Every field is read and written atomically.</summary>
public sealed class ClusterCounters
{
    private long _writeCopiesSent, _writeBytesSent, _rebalanceKeysSent, _rebalanceBytesSent;
    private long _copiesReceived, _bytesReceived, _rebalanceCopiesReceived, _valuesServed, _bytesServed;
    private long _remoteReads, _remoteReadMisses, _keysChecked, _keysDropped, _passes, _pending, _underReplicatedWrites;
    private long _fileWriteCopiesSent, _fileRebalanceCopiesSent, _fileBytesSent, _fileCopiesReceived, _fileRemoteReads, _fileCopiesDropped, _filePending, _fileUnderReplicated;

    public long WriteCopiesSent => Interlocked.Read(ref _writeCopiesSent);
    public long WriteBytesSent => Interlocked.Read(ref _writeBytesSent);
    public long RebalanceKeysSent => Interlocked.Read(ref _rebalanceKeysSent);
    public long RebalanceBytesSent => Interlocked.Read(ref _rebalanceBytesSent);
    public long CopiesReceived => Interlocked.Read(ref _copiesReceived);
    public long BytesReceived => Interlocked.Read(ref _bytesReceived);
    public long RebalanceCopiesReceived => Interlocked.Read(ref _rebalanceCopiesReceived);
    public long ValuesServed => Interlocked.Read(ref _valuesServed);
    public long BytesServed => Interlocked.Read(ref _bytesServed);
    public long RemoteReads => Interlocked.Read(ref _remoteReads);
    public long RemoteReadMisses => Interlocked.Read(ref _remoteReadMisses);
    /// <summary>Keys whose owners a rebalance pass asked about.</summary>
    public long RebalanceKeysChecked => Interlocked.Read(ref _keysChecked);
    /// <summary>Local copies dropped because this node no longer owns them and every owner holds them.</summary>
    public long RebalanceKeysDropped => Interlocked.Read(ref _keysDropped);
    public long RebalancePasses => Interlocked.Read(ref _passes);
    /// <summary>Keys the last pass could not settle (an owner unreachable or not yet confirmed).</summary>
    public long RebalancePending => Interlocked.Read(ref _pending);
    /// <summary>Client writes that reached fewer copies than their store's Replicas.</summary>
    public long UnderReplicatedWrites => Interlocked.Read(ref _underReplicatedWrites);
    /// <summary>File versions sent to other holders when they were committed.</summary>
    public long FileWriteCopiesSent => Interlocked.Read(ref _fileWriteCopiesSent);
    /// <summary>File versions sent by rebalancing (refills, re-replication after a loss).</summary>
    public long FileRebalanceCopiesSent => Interlocked.Read(ref _fileRebalanceCopiesSent);
    public long FileBytesSent => Interlocked.Read(ref _fileBytesSent);
    /// <summary>File versions taken from other nodes: copies pushed here and local misses read from a holder.</summary>
    public long FileCopiesReceived => Interlocked.Read(ref _fileCopiesReceived);
    public long FileRemoteReads => Interlocked.Read(ref _fileRemoteReads);
    /// <summary>Copies dropped here because this node is no longer a holder and the holders have them.</summary>
    public long FileCopiesDropped => Interlocked.Read(ref _fileCopiesDropped);
    /// <summary>Files the last rebalance pass could not settle.</summary>
    public long FileRebalancePending => Interlocked.Read(ref _filePending);
    /// <summary>File commits answered with fewer holders than the store's Replicas.</summary>
    public long FileUnderReplicatedCommits => Interlocked.Read(ref _fileUnderReplicated);
    /// <summary>Requests to Blob by the cluster layer: 0, since hashed KV stores have no cold tier (the files cloud tier counts its own; the node reports those).</summary>
    public long BlobRequests => 0;

    internal void Sent(ReplicateReason reason, long bytes)
    {
        if (reason == ReplicateReason.Rebalance) { Interlocked.Increment(ref _rebalanceKeysSent); Interlocked.Add(ref _rebalanceBytesSent, bytes); }
        else { Interlocked.Increment(ref _writeCopiesSent); Interlocked.Add(ref _writeBytesSent, bytes); }
    }

    internal void Received(ReplicateReason reason, long bytes)
    {
        Interlocked.Increment(ref _copiesReceived);
        Interlocked.Add(ref _bytesReceived, bytes);
        if (reason == ReplicateReason.Rebalance) Interlocked.Increment(ref _rebalanceCopiesReceived);
    }

    internal void Served(long bytes) { Interlocked.Increment(ref _valuesServed); Interlocked.Add(ref _bytesServed, bytes); }
    internal void RemoteRead(bool hit) { if (hit) Interlocked.Increment(ref _remoteReads); else Interlocked.Increment(ref _remoteReadMisses); }
    internal void Checked(long keys) => Interlocked.Add(ref _keysChecked, keys);
    internal void Dropped() => Interlocked.Increment(ref _keysDropped);
    internal void PassDone(long pending) { Interlocked.Increment(ref _passes); Interlocked.Exchange(ref _pending, pending); }
    internal void UnderReplicated() => Interlocked.Increment(ref _underReplicatedWrites);

    internal void FileSent(ReplicateReason reason, long bytes)
    {
        Interlocked.Increment(ref reason == ReplicateReason.Rebalance ? ref _fileRebalanceCopiesSent : ref _fileWriteCopiesSent);
        Interlocked.Add(ref _fileBytesSent, bytes);
    }

    internal void FileReceived(bool read)
    {
        Interlocked.Increment(ref _fileCopiesReceived);
        if (read) Interlocked.Increment(ref _fileRemoteReads);
    }

    internal void FileDropped() => Interlocked.Increment(ref _fileCopiesDropped);
    internal void FilePassDone(long pending) => Interlocked.Exchange(ref _filePending, pending);
    internal void FileUnderReplicated() => Interlocked.Increment(ref _fileUnderReplicated);
}
