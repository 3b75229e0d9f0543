namespace CheckpointCache.Node.Cli;

/// <summary>A usage mistake: printed with a pointer to --help, exit code 2.</summary>
internal sealed class CliException(string message) : Exception(message);
