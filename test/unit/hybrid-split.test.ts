import { describe, expect, it } from 'vitest';
import { planHybrid } from '../../src/builders/hybrid.js';
import { parseDockerfile, resolveBuildPlan } from '../../src/builders/native/dockerfile.js';

function split(text: string, target?: string): ReturnType<typeof planHybrid> {
  const plan = resolveBuildPlan(parseDockerfile(text), target === undefined ? {} : { target });
  return planHybrid(plan, text);
}

describe('planHybrid: where a Dockerfile is cut', () => {
  const pipeline = 'FROM python:3.11-slim\nCOPY requirements.txt /tmp/\nRUN pip install -r /tmp/requirements.txt\nWORKDIR /app\nCOPY pipeline.py .\nENTRYPOINT ["python", "pipeline.py"]\n';

  it('cuts after the last RUN; the prefix is the text up to it', () => {
    const s = split(pipeline);
    expect(s?.last.line).toBe(3);
    expect(s?.prefixText).toBe('FROM python:3.11-slim\nCOPY requirements.txt /tmp/\nRUN pip install -r /tmp/requirements.txt\n');
  });

  it('keeps every suffix line on its own line number, on FROM <placeholder>', () => {
    const text = split(pipeline)?.suffixText('localhost/ferry-prefix:abc');
    expect(text?.split('\n').slice(0, 6)).toEqual(['FROM localhost/ferry-prefix:abc', '', '', 'WORKDIR /app', 'COPY pipeline.py .', 'ENTRYPOINT ["python", "pipeline.py"]']);
  });

  it('keeps directives, global ARGs and the stage ARGs before the cut (their values are not in the image)', () => {
    const text = '# escape=`\nARG PY=3.11\nFROM python:${PY}-slim\nARG APP_DIR=/app\nRUN mkdir $APP_DIR\nLABEL x=1 `\n  y=2\nWORKDIR $APP_DIR\n';
    const out = split(text)?.suffixText('localhost/ferry-prefix:abc').split('\n');
    expect(out?.slice(0, 8)).toEqual(['# escape=`', 'ARG PY=3.11', 'FROM localhost/ferry-prefix:abc', 'ARG APP_DIR=/app', '', 'LABEL x=1 `', '  y=2', 'WORKDIR $APP_DIR']);
  });

  it('cuts the target stage of a multi-stage file, dropping later stages from the prefix', () => {
    const text = 'FROM busybox AS deps\nRUN echo deps\nFROM deps AS app\nRUN echo app\nCOPY a /a\nFROM app AS test\nRUN echo test\n';
    const s = split(text, 'app');
    expect(s?.last.line).toBe(4);
    expect(s?.prefixText).toBe('FROM busybox AS deps\nRUN echo deps\nFROM deps AS app\nRUN echo app\n');
  });

  it('does not split when nothing follows the last RUN, or a later step needs the engine or another stage', () => {
    expect(split('FROM busybox\nCOPY a /a\nRUN echo hi\n')).toBeUndefined();
    // ADD of a URL is read again by every Docker build: a prefix holding one is never reused.
    expect(split('FROM busybox\nRUN echo hi\nCOPY a /a\nADD https://example.com/x /x\nCOPY b /b\n')).toBeUndefined();
    expect(split('FROM busybox\nRUN echo hi\nCOPY a /a\nADD --unpack=true a.tar /x\nCOPY b /b\n')?.last.line).toBe(4);
    expect(split('FROM busybox AS b\nRUN echo b\nFROM busybox\nRUN echo hi\nCOPY --from=b /x /x\n')).toBeUndefined();
    expect(split('FROM busybox\nCOPY a /a\n')).toBeUndefined();
  });
});
