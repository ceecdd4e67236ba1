/**
 * Study versions read from files (`seeds/studies/*.json`): what an agent that was never paired
 * offers (the offline demo, tests that need no server). Once paired, the agent offers only the
 * studies its pairing holds (agent.ts, `loadStudies`), and nothing in the session state machine
 * changes.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { StudyVersion } from '@candor/shared/schemas/study';
import { ValidationError, parseUnknown } from '@candor/shared/validation';

export type StudyCatalog = {
  /** The latest offered version of each study, and files that could not be read (named, not quoted). */
  list(): { studies: StudyVersion[]; problems: string[] };
};

/** A catalog of the `*.json` study files in `dir`; the highest version of each study wins. */
export function createFileStudyCatalog(dir: string): StudyCatalog {
  return {
    list() {
      const latest = new Map<string, StudyVersion>();
      const problems: string[] = [];
      let names: string[];
      try {
        names = readdirSync(dir).filter((name) => name.endsWith('.json')).sort();
      } catch {
        return { studies: [], problems: [`cannot read the studies folder ${dir}`] };
      }
      for (const name of names) {
        try {
          const study = parseUnknown(StudyVersion, JSON.parse(readFileSync(join(dir, name), 'utf8')), `study file ${name}`);
          const known = latest.get(study.studyId);
          if (!known || known.version < study.version) latest.set(study.studyId, study);
        } catch (error) {
          problems.push(error instanceof ValidationError ? error.message : `study file ${name} is not readable JSON`);
        }
      }
      return { studies: [...latest.values()].sort((a, b) => a.studyId.localeCompare(b.studyId)), problems };
    },
  };
}
