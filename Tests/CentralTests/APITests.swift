import CentralSync
import Foundation
import Pool
import Testing
@testable import Central

/// The HTTP API against a real store: every test runs once on a SQLite file and once on a PostgreSQL database.
@Suite struct APITests {
    @Test(arguments: Backend.allCases)
    func uploadIsStoredOnceAndAReplayIsNotCountedTwice(backend: Backend) async throws {
        try await withFreshLocation(backend) { location in
            let harness = try await Harness.start(location)
            let summaries = dailySineSummaries(tenant: "web-1", workload: "web", steps: 10)

            let first = try await harness.upload(7, summaries)
            #expect(first.status == 201, "\(first.text)")
            let replay = try await harness.upload(7, summaries)
            #expect(replay.status == 200, "\(replay.text)")
            let receipt = try JSONDecoder().decode(UploadReceipt.self, from: Data(replay.text.utf8))
            #expect(receipt.duplicate && receipt.storedSummaries == 0)

            let counts = try await harness.store.counts()
            #expect(counts.uploads == 1)
            #expect(counts.samples == 10)
            #expect(abs(counts.weightedMeanSum - summaries.reduce(0) { $0 + $1.mean * 300 }) < 1e-6)
            #expect(harness.service.metrics.counter("dpm_central_uploads_total{outcome=\"duplicate\"}") == 1)
            try await harness.stop()
        }
    }

    @Test(arguments: Backend.allCases)
    func restartLosesNoAcceptedUpload(backend: Backend) async throws {
        try await withFreshLocation(backend) { location in
            let first = try await Harness.start(location)
            let batches = (0..<5).map { dailySineSummaries(tenant: "db-\($0)", workload: "db", steps: 20) }
            for (sequence, batch) in batches.enumerated() {
                #expect(try await first.upload(Int64(sequence), batch).status == 201)
            }
            try await first.stop()

            // A new process on the same store: every accepted upload is there, and replays are recognised.
            let store = try await location.open()
            let service = try await CentralService.start(store: store, configuration: Harness.testConfiguration())
            let second = Harness(location: location, store: store, service: service, host: first.host, token: first.token)
            let counts = try await store.counts()
            #expect(counts.uploads == 5)
            #expect(counts.samples == 100)
            for (sequence, batch) in batches.enumerated() {
                #expect(try await second.upload(Int64(sequence), batch).status == 200)
            }
            #expect(try await store.counts() == counts)
            // The learner picks up what was stored before the restart.
            try await service.learner.bootstrap()
            #expect(try await service.learner.learnOnce() == 5)
            try await second.stop()
        }
    }

    @Test(arguments: Backend.allCases)
    func unauthenticatedAndWrongTokenGet401(backend: Backend) async throws {
        try await withFreshLocation(backend) { location in
            let harness = try await Harness.start(location)
            let body = try JSONEncoder().encode(UploadBody(summaries: dailySineSummaries(tenant: "t", workload: "w", steps: 1)))
            let path = "v1/hosts/\(harness.host)/uploads/0"
            #expect(try await harness.send("PUT", path, body: body, token: .some(nil)).status == 401)
            #expect(try await harness.send("PUT", path, body: body, token: HostToken.generate()).status == 401)
            #expect(try await harness.send("POST", "v1/hosts/\(harness.host)/priors", body: Data(#"{"tenants":[]}"#.utf8), token: .some(nil)).status == 401)
            // A valid token used for another host id.
            #expect(try await harness.send("PUT", "v1/hosts/other-host/uploads/0", body: body).status == 401)
            #expect(try await harness.store.counts().uploads == 0)
            #expect(try await harness.send("PUT", path, body: body).status == 201)
            try await harness.stop()
        }
    }

    @Test(arguments: Backend.allCases)
    func malformedOversizedAndNaNPayloadsGet4xxNamingTheProblem(backend: Backend) async throws {
        try await withFreshLocation(backend) { location in
            let harness = try await Harness.start(location) { $0.limits.maxBodyBytes = 4096 }
            let good = dailySineSummaries(tenant: "t", workload: "w", steps: 1)[0]
            /// The good summary as JSON with some fields replaced by raw JSON text.
            func summaryJSON(_ changes: [String: String]) throws -> String {
                var object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(good)) as! [String: Any]
                for key in changes.keys { object.removeValue(forKey: key) }
                var text = String(decoding: try JSONSerialization.data(withJSONObject: object, options: .sortedKeys), as: UTF8.self)
                for (key, raw) in changes { text = String(text.dropLast()) + ",\"\(key)\":\(raw)}" }
                return #"{"summaries":["# + text + "]}"
            }
            let path = "v1/hosts/\(harness.host)/uploads/1"
            let now = Int64(Date().timeIntervalSince1970)
            // status nil: any 4xx (an out-of-range number is refused by the parser or as not finite, either is right).
            let cases: [(body: String, status: Int?, mentions: String)] = [
                ("{not json", 400, "body"),
                (#"{"summaries":[], "extra": 1}"#, 400, "extra"),
                (try summaryJSON(["mean": "\"NaN\""]), 400, "mean"),
                (try summaryJSON(["mean": "NaN"]), 400, "body"),
                (try summaryJSON(["max": "1e999"]), nil, "body"),
                (try summaryJSON(["p95": "-1"]), 422, "p95"),
                (try summaryJSON(["startSeconds": "\(now + 86_400)"]), 422, "future"),
                (try summaryJSON(["resource": "\"disk\""]), 400, "resource"),
                (try summaryJSON(["colour": "\"blue\""]), 400, "colour"),
                (#"{"summaries":[]}"#, 422, "summaries"),
                (#"{"summaries":"# + String(repeating: " ", count: 5000) + "[]}", 413, "limit"),
            ]
            for (body, status, mentions) in cases {
                let answer = try await harness.send("PUT", path, body: Data(body.utf8))
                if let status {
                    #expect(answer.status == status, "\(body.prefix(120)) -> \(answer.text)")
                } else {
                    #expect((400..<500).contains(answer.status), "\(body.prefix(120)) -> \(answer.text)")
                }
                #expect(answer.text.contains(mentions), "\(answer.text) should name \(mentions)")
            }
            #expect(try await harness.send("PUT", "v1/hosts/\(harness.host)/uploads/-3", body: Data(try summaryJSON([:]).utf8)).status == 422)
            #expect(try await harness.store.counts().uploads == 0)
            #expect(try await harness.send("PUT", path, body: Data(try summaryJSON([:]).utf8)).status == 201)
            try await harness.stop()
        }
    }

    @Test(arguments: Backend.allCases)
    func eachHostIsRateLimited(backend: Backend) async throws {
        try await withFreshLocation(backend) { location in
            let harness = try await Harness.start(location) {
                $0.ratePerSecond = 0.01
                $0.rateBurst = 3
            }
            let body = Data(#"{"tenants":[]}"#.utf8)
            var statuses = [Int]()
            for _ in 0..<4 { statuses.append(try await harness.send("POST", "v1/hosts/\(harness.host)/priors", body: body).status) }
            #expect(statuses == [200, 200, 200, 429])
            try await harness.stop()
        }
    }

    @Test(arguments: Backend.allCases)
    func priorsComeFromOwnHistoryThenClassThenGlobal(backend: Backend) async throws {
        try await withFreshLocation(backend) { location in
            let harness = try await Harness.start(location)
            // Three days of a daily sine for three "web" tenants, a flat "batch" tenant.
            for (sequence, tenant) in ["web-a", "web-b", "web-c"].enumerated() {
                #expect(try await harness.upload(Int64(sequence), dailySineSummaries(tenant: tenant, workload: "web", steps: 3 * 288)).status == 201)
            }
            #expect(try await harness.upload(9, dailySineSummaries(tenant: "batch-a", workload: "batch", steps: 3 * 288, amplitude: 0)).status == 201)
            #expect(try await harness.service.learner.learnOnce() == 4)

            let ask = PriorsRequest(tenants: [
                TenantDescriptor(tenant: "web-a", tenantClass: .burstable, workload: "web"),
                TenantDescriptor(tenant: "web-new", tenantClass: .burstable, workload: "web"),
                TenantDescriptor(tenant: "mystery", tenantClass: .bestEffort, workload: "never-seen"),
            ])
            let answer = try await harness.send("POST", "v1/hosts/\(harness.host)/priors", body: try JSONEncoder().encode(ask))
            #expect(answer.status == 200, "\(answer.text)")
            let response = try JSONDecoder().decode(PriorsResponse.self, from: Data(answer.text.utf8))
            let byTenant = Dictionary(grouping: response.priors, by: \.tenant)

            let own = try #require(byTenant["web-a"]?.first)
            #expect(own.source == .tenant && own.resource == .cpu)
            #expect(own.seasonalProfile.count == 288)
            #expect(own.residualStandardDeviation < 0.05)
            let noon = Int64(Date().timeIntervalSince1970) / 86_400 * 86_400 + 21_600
            #expect(abs(own.seasonalPrior.expected(atSeconds: Double(noon)) - dailySine(atSeconds: noon)) < 0.1)

            let cold = try #require(byTenant["web-new"]?.first)
            #expect(cold.source == .workloadClass)
            #expect(cold.seasonalProfile.count == 24)
            #expect(abs(cold.seasonalPrior.expected(atSeconds: Double(noon)) - dailySine(atSeconds: noon)) < 0.3)
            #expect(try #require(byTenant["mystery"]?.first).source == .global)
            #expect(response.missing.isEmpty)
            try await harness.stop()
        }
    }

    @Test(arguments: Backend.allCases)
    func retentionFoldsOldRowsIntoHoursKeepingTheTotal(backend: Backend) async throws {
        try await withFreshLocation(backend) { location in
            let harness = try await Harness.start(location)
            let now = Int64(Date().timeIntervalSince1970)
            let old = dailySineSummaries(tenant: "old", workload: "w", steps: 180, stepSeconds: 60, endSeconds: now - 20 * 86_400)
            #expect(try await harness.upload(0, old).status == 201)
            #expect(try await harness.upload(1, dailySineSummaries(tenant: "new", workload: "w", steps: 30, stepSeconds: 60)).status == 201)
            let before = try await harness.store.counts()
            let folded = try await RetentionService(store: harness.store, metrics: harness.service.metrics).apply(nowSeconds: now)
            let after = try await harness.store.counts()
            #expect(folded == 180)
            #expect(after.samples == 30 + Set(old.map { $0.startSeconds / 3600 }).count)
            #expect(abs(after.weightedMeanSum - before.weightedMeanSum) < 1e-6 * before.weightedMeanSum)
            try await harness.stop()
        }
    }

    @Test(arguments: Backend.allCases)
    func healthAndMetricsAnswer(backend: Backend) async throws {
        try await withFreshLocation(backend) { location in
            let harness = try await Harness.start(location)
            #expect(try await harness.upload(0, dailySineSummaries(tenant: "t", workload: "w", steps: 3)).status == 201)
            let health = try await harness.send("GET", "healthz", token: .some(nil))
            #expect(health.status == 200 && health.text.contains("ok"))
            let metrics = try await harness.send("GET", "metrics", token: .some(nil))
            #expect(metrics.text.contains("dpm_central_uploads_total{outcome=\"stored\"} 1"))
            #expect(metrics.text.contains("dpm_central_request_duration_seconds_bucket{route=\"/v1/hosts/{host}/uploads/{sequence}\",status=\"201\""))
            try await harness.stop()
        }
    }
}
