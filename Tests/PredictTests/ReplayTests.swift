import Foundation
import Testing
@testable import Predict
@testable import Replay

@Suite struct ReplayTests {
    /// Warm-up [1, 3, 2] sets a static peak of 3; then usage 2, 4, 1 against L = 3:
    /// slack = (1 + 0 + 2) / 9, one shortfall in three steps, shortfall volume = 1 / 7.
    /// Point forecast = warm-up mean 2: errors 0, 2, 1 against the naive 0, 2, 3, so MASE_1 = 3 / 5.
    @Test func metricsOnAHandComputedSeries() {
        let series = UsageSeries(name: "tiny", values: [1, 3, 2, 2, 4, 1], stepSeconds: 300)
        let score = replay(series, method: StaticPeak(warmupSteps: 3), warmupSteps: 3)
        #expect(score.steps == 3)
        #expect(abs(score.slack - 3.0 / 9.0) < 1e-12)
        #expect(abs(score.shortfallRate - 1.0 / 3.0) < 1e-12)
        #expect(abs(score.shortfallVolume - 1.0 / 7.0) < 1e-12)
        #expect(abs(score.mase1 - 3.0 / 5.0) < 1e-12)
    }

    @Test func mase12ComparesWithTheValueTwelveStepsEarlier() {
        // A period-12 sawtooth: seasonal naive with period 12 is exact, the 12-step naive forecast too (ratio 0/0
        // reports 0); a shifted copy makes both errors non-zero and equal, so MASE_12 = 1.
        let values = (0..<60).map { Double($0 % 12) + Double($0 / 12) }
        let series = UsageSeries(name: "saw", values: values, stepSeconds: 300)
        let score = replay(series, method: SeasonalNaive(periodSteps: 12), warmupSteps: 24)
        #expect(abs(score.mase12 - 1) < 1e-12)
    }

    @Test func missingValuesAreNeitherScoredNorShown() {
        let series = UsageSeries(name: "gaps", values: [5, 5, .nan, 5, .nan, 5], stepSeconds: 300)
        let score = replay(series, method: StaticPeak(warmupSteps: 2), warmupSteps: 2)
        #expect(score.steps == 2)
        #expect(score.missingSteps == 2)
        #expect(score.slack == 0)
    }

    @Test func poolingAddsTheSums() {
        var first = ReplayScore()
        first.record(limit: 10, usage: 5)
        var second = ReplayScore()
        second.record(limit: 10, usage: 15)
        first.merge(second)
        #expect(first.slack == 5.0 / 20.0)
        #expect(first.shortfallRate == 0.5)
        #expect(first.shortfallVolume == 5.0 / 20.0)
    }
}

@Suite struct TraceReaderTests {
    func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("dpm-test-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    func write(_ text: String, to url: URL) throws { try text.write(to: url, atomically: true, encoding: .utf8) }

    @Test func planetLabDirectoryIsOneSeriesPerFile() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try write("10\n20\n30\n", to: directory.appendingPathComponent("b_vm"))
        try write("1\n2\n", to: directory.appendingPathComponent("a_vm"))
        let series = try TraceReader(format: .planetlab).read(path: directory.path)
        #expect(series.map(\.name) == ["a_vm", "b_vm"])
        #expect(series[1].values == [10, 20, 30])
        #expect(series[1].stepSeconds == 300)
    }

    @Test func azureCSVWithCRLFAndAMissingStep() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("azure.csv")
        try write("step,vm_1,vm_2\r\n0,1.5,2\r\n1,,3\r\n3,4,5\r\n", to: file)
        let series = try TraceReader(format: .azureCSV).read(path: file.path)
        #expect(series.map(\.name) == ["vm_1", "vm_2"])
        #expect(series[0].values.count == 4)
        #expect(series[0].values[0] == 1.5)
        #expect(series[0].values[1].isNaN)  // empty cell
        #expect(series[1].values[2].isNaN)  // step 2 absent
        #expect(series[1].values[3] == 5)
        let only = try TraceReader(format: .azureCSV, column: "vm_2").read(path: file.path)
        #expect(only.map(\.name) == ["vm_2"])
    }

    @Test func gzipFilesAreDecompressed() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("trace.csv")
        try write("cpu_util_percent,mem_util_percent\n10,20\n11,21\n", to: file)
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/bin/sh")
        gzip.arguments = ["-c", "exec gzip -- \"$0\"", file.path]
        try gzip.run()
        gzip.waitUntilExit()
        #expect(gzip.terminationStatus == 0)
        let series = try TraceReader(format: .alibabaCSV, column: "cpu_util_percent", stepSeconds: 10)
            .read(path: file.path + ".gz")
        #expect(series.count == 1)
        #expect(series[0].values == [10, 11])
        #expect(series[0].stepSeconds == 10)
    }

    @Test func malformedRowNamesFileAndLine() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let csv = directory.appendingPathComponent("bad.csv")
        try write("step,vm_1\n0,1\n1,2,3\n", to: csv)
        #expect(throws: TraceError.malformedRow(path: csv.path, line: 3, reason: "expected 2 fields, found 3")) {
            try TraceReader(format: .azureCSV).read(path: csv.path)
        }
        let text = directory.appendingPathComponent("bad_vm")
        try write("1\n2\nabc\n4\n", to: text)
        do {
            _ = try TraceReader(format: .planetlab).read(path: text.path)
            Issue.record("a malformed PlanetLab file was accepted")
        } catch {
            #expect(error.description.hasPrefix("\(text.path):3:"))
        }
    }

    @Test func emptyFileIsAnError() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let empty = directory.appendingPathComponent("empty.csv")
        try write("", to: empty)
        #expect(throws: TraceError.empty(path: empty.path)) { try TraceReader(format: .csv).read(path: empty.path) }
        let headerOnly = directory.appendingPathComponent("header.csv")
        try write("step,vm_1\n", to: headerOnly)
        #expect(throws: TraceError.empty(path: headerOnly.path)) {
            try TraceReader(format: .azureCSV).read(path: headerOnly.path)
        }
        #expect(throws: TraceError.unreadable(path: directory.path + "/none", reason: "no such file or directory")) {
            try TraceReader(format: .csv).read(path: directory.path + "/none")
        }
    }

    @Test func nanNegativeAndInfiniteValuesReachTheMethodsWhichCopeWithThem() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("odd_vm")
        try write("5\nnan\n-3\ninf\n5\n5\n", to: file)
        let series = try TraceReader(format: .planetlab).read(path: file.path)[0]
        #expect(series.values[1].isNaN && series.values[2] == -3 && series.values[3] == .infinity)
        let score = replay(series, method: ForecasterMethod(configuration: ForecasterConfiguration()), warmupSteps: 1)
        #expect(score.missingSteps == 2)  // nan and inf
        #expect(score.steps == 3)          // -3 (scored as 0), 5, 5
        #expect(score.limitSum.isFinite && score.slack.isFinite)
    }
}

@Suite struct BaselineTests {
    @Test func vpaTargetsItsPercentilePlusMargin() {
        var vpa = VPARecommender()
        for step in 0..<1_000 { vpa.observe(value: Double(step % 10 + 1), atSeconds: Double(step) * 60) }
        // Values 1...10 equally often (weights decay slowly over 16 hours): p90 is in the bucket holding 9 or 10.
        let limit = vpa.limit() / 1.15
        #expect(limit >= 9 && limit <= 10.6, "p90 \(limit)")
    }

    @Test func autopilotStatistics() {
        var maximum = AutopilotRecommender(statistic: .max, windowSteps: 5)
        var average = AutopilotRecommender(statistic: .average)
        for (step, value) in [9.0, 1, 1, 1, 1, 1, 2].enumerated() {
            maximum.observe(value: value, atSeconds: Double(step) * 300)
            average.observe(value: value, atSeconds: Double(step) * 300)
        }
        #expect(maximum.limit() == 2)  // 9 has left the five-step window
        #expect(average.limit() > 1 && average.limit() < 3)
    }

    @Test func autopilotMLConvergesOnAConstant() {
        var ml = AutopilotMLRecommender(overrunWeight: 10)
        for step in 0..<2_000 { ml.observe(value: 40, atSeconds: Double(step) * 300) }
        #expect(ml.limit() >= 40 && ml.limit() <= 40 * 1.06, "limit \(ml.limit())")
    }

    @Test func seasonalNaiveRepeatsThePeriod() {
        var naive = SeasonalNaive(periodSteps: 3)
        for (step, value) in [1.0, 2, 3, 4].enumerated() { naive.observe(value: value, atSeconds: Double(step)) }
        // The next step is step 4, one period after step 1 (value 2).
        #expect(naive.limit() == 2)
        #expect(naive.expected(stepsAhead: 2) == 3)
    }
}

@Suite struct ShortfallBudgetTests {
    @Test func targetsFollowTheErrorScaleWithinBounds() {
        #expect(ShortfallBudget.target(poolTarget: 0.05, errorScale: 2, meanErrorScale: 1) == 0.1)
        #expect(ShortfallBudget.target(poolTarget: 0.05, errorScale: 0, meanErrorScale: 1) == 0.05 / 20)
        #expect(ShortfallBudget.target(poolTarget: 0.05, errorScale: 100, meanErrorScale: 1) == 0.5)
        #expect(ShortfallBudget.target(poolTarget: 0.05, errorScale: 1, meanErrorScale: 0) == 0.05)
    }

    @Test func pooledReplayGivesTheVolatileSeriesMoreOfTheBudget() {
        var noise = Noise(seed: 9)
        let calm = (0..<3_000).map { _ in 50 + 0.5 * noise.gaussian() }
        let volatile = (0..<3_000).map { _ in 50 + 10 * noise.gaussian() }
        let series = [UsageSeries(name: "calm", values: calm, stepSeconds: 300),
                      UsageSeries(name: "volatile", values: volatile, stepSeconds: 300)]
        var configuration = ForecasterConfiguration(seasonalPeriods: [])
        configuration.shortfallTarget = 0.05
        let scores = replayPooled(series, configuration: configuration, warmupSteps: 500)
        #expect(scores[0].shortfallRate < scores[1].shortfallRate)
        var pooled = scores[0]
        pooled.merge(scores[1])
        #expect(abs(pooled.shortfallRate - 0.05) < 0.02, "pooled shortfall rate \(pooled.shortfallRate)")
        // Each series alone at 5%, for comparison: the pooled budget leaves less slack at a similar pooled rate.
        var alone = ReplayScore()
        for item in series {
            alone.merge(replay(item, method: ForecasterMethod(configuration: configuration), warmupSteps: 500))
        }
        #expect(pooled.slack < alone.slack, "pooled \(pooled.slack), alone \(alone.slack)")
    }
}

@Suite struct KnobScanPartsTests {
    @Test func shortfallCurveInterpolatesAndTakesTheLowestCrossing() {
        var curve = ShortfallCurve()
        curve.add(rate: 0.02, slack: 0.4)
        curve.add(rate: 0.00, slack: 0.8)
        #expect(curve.points.map(\.rate) == [0.00, 0.02])
        // Halfway between (0, 0.8) and (0.02, 0.4).
        #expect(abs(curve.slack(atShortfallRate: 0.01)! - 0.6) < 1e-12)
        // A knob whose curve is not monotone crosses 1% more than once; the lowest slack counts.
        curve.add(rate: 0.005, slack: 0.2)
        curve.add(rate: 0.03, slack: 0.2)
        // Sorted: (0, .8) (.005, .2) (.02, .4) (.03, .2); crossings of 1%: (.005,.2)-(.02,.4) gives 0.2 + 0.2/3.
        #expect(abs(curve.slack(atShortfallRate: 0.01)! - (0.2 + 0.2 / 3)) < 1e-12)
        #expect(curve.slack(atShortfallRate: 0.05) == nil)
    }

    @Test func forecasterSettingsApplyAndNameWhatIsWrong() throws {
        let configuration = try ForecasterConfiguration().applying(
            settings: ["levelRate=0.5", "seasonalPeriods=288:12", "ensembleSharpness=2"])
        #expect(configuration.levelRate == 0.5)
        #expect(configuration.seasonalPeriods == [288, 12])
        #expect(configuration.ensembleSharpness == 2)
        #expect(throws: ForecasterSettingError.self) { try ForecasterConfiguration().applying(settings: ["speed=1"]) }
        do {
            _ = try ForecasterConfiguration().applying(settings: ["levelRate=2"])
            Issue.record("levelRate=2 was accepted")
        } catch { #expect(error.description.contains("levelRate")) }
        do {
            _ = try ForecasterConfiguration().applying(settings: ["ensembleSharpness=1.5"])
            Issue.record("a fractional sharpness was accepted")
        } catch { #expect(error.description.contains("whole number")) }
    }

    @Test func replayMethodReadsItsKnobs() {
        let series = UsageSeries(name: "ramp", values: (0..<40).map { Double($0 % 10) }, stepSeconds: 300)
        let base = ReplayKnobs(warmupSteps: 10, forecaster: ForecasterConfiguration(seasonalPeriods: []))
        var generous = base
        generous.margin = 1
        // static-peak's limit is the warm-up peak (9) times 1 + margin: slack grows with the margin.
        let tight = replay(series, method: .staticPeak, knobs: base, timed: false)
        let loose = replay(series, method: .staticPeak, knobs: generous, timed: false)
        #expect(tight.steps == 30 && tight.limitSum == 9 * 30)
        #expect(loose.limitSum == 18 * 30)
        var quantile = base
        quantile.quantile = 0.5
        #expect(quantile.dpmConfiguration.shortfallTarget == 0.5)
        let timed = replay(series, method: .dpm, knobs: base, timed: true)
        #expect(timed.timedUpdates == 40)
    }
}
