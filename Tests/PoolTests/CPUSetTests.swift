import Pool
import Testing

@Suite struct CPUSetTests {
    @Test func parsesAndFoldsTheKernelListFormat() {
        #expect(CPUSet(listFormat: "0-3,8,10-11\n")?.members == [0, 1, 2, 3, 8, 10, 11])
        #expect(CPUSet([11, 0, 1, 2, 3, 8, 10]).description == "0-3,8,10-11")
        #expect(CPUSet(listFormat: "")?.isEmpty == true)
        #expect(CPUSet(listFormat: "3-1") == nil)
        #expect(CPUSet(listFormat: "a") == nil)
    }
}
