//! XML output (in progress).
pub fn to_xml(_docs: &[super::Document]) -> anyhow::Result<Vec<u8>> {
    anyhow::bail!("xml output is not written yet")
}
