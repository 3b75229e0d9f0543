using Microsoft.Extensions.Logging;

namespace CheckpointCache.Perf.Framework;

/// <summary>
/// Minimal stderr logging, so the code under test can warn (O_DIRECT fallback, I/O errors) without
/// the benchmark pulling in the full logging stack.
/// </summary>
public sealed class ConsoleLoggerFactory(LogLevel minimum) : ILoggerFactory
{
    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, minimum);

    public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException("the perf console logger takes no providers");

    public void Dispose()
    {
    }

    private sealed class Logger(string category, LogLevel minimum) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum && logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel)) return;
            var line = $"[{DateTime.Now:HH:mm:ss}] {logLevel} {category}: {formatter(state, exception)}";
            if (exception is not null) line += Environment.NewLine + exception;
            Console.Error.WriteLine(line);
        }
    }
}
