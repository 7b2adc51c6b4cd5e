/**
 * docs/benchmarks.md by sections: a run of some areas replaces only theirs.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DOC_HEAD, mergeSections, splitSections } from './doc.js';

const OLD = `# membrane benchmarks

Measured by \`npm run bench\` on 2026-11-27: 2 × AMD EPYC, 24 GiB, Linux 6.18.44-fc-v595. Every figure is from that one run; ratios are against the baseline measured in the same run.

## Datapath

Two pods on one node.

| a | b |
|---|---|

## Policy control plane

Measured on 2026-11-28 (1 × X, 1 GiB, Linux 6). A real agent.

| c |
`;

describe('benchmark document sections', () => {
  it('splits at the ## headings', () => {
    const { head, sections } = splitSections(OLD);
    assert.match(head, /^# membrane benchmarks\n/);
    assert.deepEqual(sections.map((s) => s.title), ['Datapath', 'Policy control plane']);
    assert.ok(sections[0]!.text.startsWith('## Datapath\n\nTwo pods') && sections[0]!.text.endsWith('|---|---|\n'));
  });

  it('replaces only the sections run, keeps the others in place and appends new ones', () => {
    const doc = mergeSections(OLD, [
      { title: 'Services', text: '## Services\n\nMeasured on 2026-12-01 (m). New.\n' },
      { title: 'Datapath', text: '## Datapath\n\nMeasured on 2026-12-01 (m). Fresh.\n' },
    ]);
    assert.ok(doc.startsWith(DOC_HEAD));
    assert.deepEqual(splitSections(doc).sections.map((s) => s.title), ['Datapath', 'Policy control plane', 'Services']);
    assert.match(doc, /## Datapath\n\nMeasured on 2026-12-01 \(m\)\. Fresh\.\n/);
    assert.ok(!doc.includes('Two pods on one node'));
    assert.match(doc, /## Policy control plane\n\nMeasured on 2026-11-28 \(1 × X, 1 GiB, Linux 6\)\. A real agent\.\n\n\| c \|\n/);
  });

  it('dates a kept section of an old document, which gave one date for all, with that date', () => {
    const doc = mergeSections(OLD, [{ title: 'Services', text: '## Services\n\nx\n' }]);
    assert.match(doc, /## Datapath\n\nMeasured on 2026-11-27 \(2 × AMD EPYC, 24 GiB, Linux 6\.18\.44-fc-v595\)\. Two pods on one node\./);
  });

  it('starts a document when there is none, and is stable when run again', () => {
    const once = mergeSections(undefined, [{ title: 'Services', text: '## Services\n\nMeasured on d (m). x\n' }]);
    assert.equal(once, `${DOC_HEAD}\n## Services\n\nMeasured on d (m). x\n`);
    assert.equal(mergeSections(once, []), once);
  });
});
