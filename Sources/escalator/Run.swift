import ArgumentParser
import EscalatorConfig
import EscalatorDaemon
import EscalatorOutputs
import EscalatorState
import Foundation
import Logging

/// sysexits' EX_CONFIG: the unit's RestartPreventExitStatus= keeps systemd from restarting into a broken config.
let exitConfigurationError: Int32 = 78
/// sysexits' EX_TEMPFAIL: the active instance lost its lock on the shared state store (Restart=on-failure restarts it).
let exitLostActiveLock: Int32 = 75

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the escalation daemon (under systemd: Type=notify).",
        discussion: """
            Polls the order database, escalates overdue cases and delivers each notice exactly once to the journal \
            and the email spool. SIGHUP reloads the configuration (an invalid one keeps the old rules); SIGTERM \
            finishes the current tick, delivers the outbox and exits. The state directory is the configuration's \
            state.directory, else $STATE_DIRECTORY, else /var/lib/escalator. Exits 78 when the configuration is \
            invalid.
            """)

    @OptionGroup var options: ConfigOptions

    func run() async throws {
        // `escalator ack` pokes the daemon with SIGUSR1; until the scheduler listens for it, it must not kill us.
        signal(SIGUSR1) { _ in }
        let events = EventWriter(mode: EventWriter.automaticMode())
        LoggingSystem.bootstrap { _ in JournalLogHandler(writer: events) }
        let logger = Logger(label: "escalator")
        let result = ConfigLoader.load(directory: options.config)
        for diagnostic in result.diagnostics {
            events.write(priority: diagnostic.severity == .error ? 3 : 4, message: diagnostic.description, fields: [])
        }
        guard let configuration = result.configuration else {
            logger.critical("escalator cannot start: \(result.diagnostics.errorCount) errors in \(options.config)")
            throw ExitCode(exitConfigurationError)
        }
        do {
            try await DaemonRunner.run(configuration: configuration, events: events, logger: logger)
        } catch let error as Daemon.NoSource {
            logger.critical("escalator cannot start: \(error)")
            throw ExitCode(exitConfigurationError)
        } catch let error as PostgresStateStore.LostLock {
            // Exiting is the safe way out: a fresh start rejoins as a standby, with nothing of this run in memory.
            logger.critical("escalator is no longer the active instance: \(error). Exiting; restarted, it waits as a standby.")
            throw ExitCode(exitLostActiveLock)
        } catch let error as StateError {
            logger.critical("escalator cannot run: \(error)")
            throw ExitCode.failure
        } catch {
            logger.critical("escalator stopped on an error: \(error)")
            throw ExitCode.failure
        }
    }
}

struct Reload: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask the running daemon to reload and wait for its verdict (the unit's ExecReload=).",
        discussion: """
            Sends SIGHUP to the daemon ($MAINPID under systemd, else the pid in the state directory's lock file), \
            then waits until the daemon has handled it. Exits 1, printing the daemon's diagnostics, when the daemon \
            rejected the new configuration and kept the old rules.
            """)

    @OptionGroup var options: ConfigOptions
    @Option(help: "Seconds to wait for the daemon's verdict.") var timeout: Double = 60

    func run() async throws {
        let result = ConfigLoader.load(directory: options.config)
        guard let configuration = result.configuration else {
            for diagnostic in result.diagnostics { print(diagnostic, to: &standardError) }
            throw ExitCode.failure
        }
        let environment = ProcessInfo.processInfo.environment
        let stateDirectory = configuration.state.resolvedDirectory(environment: environment)
        guard let pid = environment["MAINPID"].flatMap({ Int32($0) }) ?? StateLock.holderPID(directory: stateDirectory), pid > 0 else {
            print("reload: no running daemon found (no $MAINPID, no pid in \(stateDirectory)/\(StateLock.fileName))", to: &standardError)
            throw ExitCode.failure
        }
        let status = ReloadStatusFile(stateDirectory: stateDirectory)
        let before = status.handled()
        guard kill(pid, SIGHUP) == 0 else {
            print("reload: cannot signal pid \(pid): \(String(cString: strerror(errno)))", to: &standardError)
            throw ExitCode.failure
        }
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let verdict = status.read(), verdict.handled > before {
                if verdict.ok {
                    print(verdict.detail)
                    return
                }
                print("reload rejected; the old rules stay in force:\n\(verdict.detail)", to: &standardError)
                throw ExitCode.failure
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        print("reload: the daemon (pid \(pid)) did not answer within \(Int(timeout)) s", to: &standardError)
        throw ExitCode.failure
    }
}
