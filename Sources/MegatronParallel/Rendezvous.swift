#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The start of a multi-process run: rank 0 listens on `MASTER_ADDR:MASTER_PORT` and hands one
/// small blob (NCCL's unique id) to every other rank, which connects (retrying until the
/// timeout, as ranks start in any order). Only this id travels over the socket; tensors go
/// through NCCL.
///
///     let id = try Rendezvous.share(env.rank == 0 ? try nccl.uniqueID().bytes : nil, environment: env, timeout: 600)
public enum Rendezvous {
    /// Rank 0 passes the blob and gets it back; every other rank passes nil and receives it.
    public static func share(_ blob: [UInt8]?, environment env: DistributedEnvironment, timeout: Double) throws -> [UInt8] {
        guard env.worldSize > 1 else { return blob ?? [] }
        if env.rank == 0 {
            guard let blob else { throw RendezvousError.protocolError("rank 0 must provide the blob") }
            try serve(blob, port: env.masterPort, clients: env.worldSize - 1, timeout: timeout)
            return blob
        }
        return try fetch(address: env.masterAddress, port: env.masterPort, timeout: timeout)
    }

    static func serve(_ blob: [UInt8], port: Int, clients: Int, timeout: Double) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RendezvousError.system("socket", errno) }
        defer { close(fd) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr = in_addr(s_addr: INADDR_ANY)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw RendezvousError.cannotListen(port: port, errno: errno) }
        guard listen(fd, Int32(clients)) == 0 else { throw RendezvousError.system("listen", errno) }
        let deadline = Date().addingTimeInterval(timeout)
        var served = 0
        while served < clients {
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else { throw RendezvousError.timeout(waitingFor: "\(clients - served) of \(clients) ranks to connect to port \(port)") }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(min(remaining, 1) * 1000))
            guard ready > 0 else { continue }
            let client = accept(fd, nil, nil)
            guard client >= 0 else { continue }
            defer { close(client) }
            try sendAll(client, lengthPrefixed(blob))
            served += 1
        }
    }

    static func fetch(address: String, port: Int, timeout: Double) throws -> [UInt8] {
        let deadline = Date().addingTimeInterval(timeout)
        var lastError: Int32 = 0
        while deadline.timeIntervalSinceNow > 0 {
            if let fd = try connectOnce(address: address, port: port, error: &lastError) {
                defer { close(fd) }
                let header = try receiveAll(fd, count: 4)
                let length = Int(header[0]) | Int(header[1]) << 8 | Int(header[2]) << 16 | Int(header[3]) << 24
                return try receiveAll(fd, count: length)
            }
            usleep(100_000)
        }
        throw RendezvousError.cannotConnect(address: address, port: port, errno: lastError)
    }

    private static func connectOnce(address: String, port: Int, error: inout Int32) throws -> Int32? {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(address, String(port), &hints, &result)
        guard status == 0, let info = result else { throw RendezvousError.unresolvable(address: address) }
        defer { freeaddrinfo(result) }
        let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
        guard fd >= 0 else { throw RendezvousError.system("socket", errno) }
        if connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return fd }
        error = errno
        close(fd)
        return nil
    }

    private static func lengthPrefixed(_ blob: [UInt8]) -> [UInt8] {
        let n = UInt32(blob.count)
        return [UInt8(n & 0xff), UInt8(n >> 8 & 0xff), UInt8(n >> 16 & 0xff), UInt8(n >> 24)] + blob
    }

    private static func sendAll(_ fd: Int32, _ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw RendezvousError.system("send", errno) }
            sent += n
        }
    }

    private static func receiveAll(_ fd: Int32, count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var received = 0
        while received < count {
            let n = bytes.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + received, count - received, 0) }
            guard n > 0 else { throw RendezvousError.protocolError("connection closed after \(received) of \(count) bytes") }
            received += n
        }
        return bytes
    }
}

/// The rendezvous could not complete.
public enum RendezvousError: Error, CustomStringConvertible {
    case cannotListen(port: Int, errno: Int32)
    case cannotConnect(address: String, port: Int, errno: Int32)
    case unresolvable(address: String)
    case timeout(waitingFor: String)
    case system(String, Int32)
    case protocolError(String)

    public var description: String {
        switch self {
        case let .cannotListen(port, e): "rank 0 cannot listen on MASTER_PORT \(port): \(String(cString: strerror(e)))"
        case let .cannotConnect(address, port, e):
            "cannot reach the rendezvous at MASTER_ADDR \(address):\(port) (\(e == 0 ? "timed out" : String(cString: strerror(e))))"
        case let .unresolvable(address): "MASTER_ADDR \(address) does not resolve to an IPv4 address"
        case let .timeout(what): "rendezvous timed out waiting for \(what)"
        case let .system(call, e): "\(call) failed: \(String(cString: strerror(e)))"
        case let .protocolError(message): "rendezvous: \(message)"
        }
    }
}
