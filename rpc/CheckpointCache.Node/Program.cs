using CheckpointCache.Node.Cli;

return await CommandLine.RunAsync(args);
