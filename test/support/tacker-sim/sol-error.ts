/**
 * A failure answered as ProblemDetails, like tacker/sol_refactored/common/exceptions.SolException:
 * make_problem_details writes status, detail and, when the class has one, title.
 */
export class SolError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly title?: string,
  ) {
    super(detail);
    this.name = 'SolError';
  }

  problemDetails(): Record<string, unknown> {
    return { status: this.status, detail: this.detail, ...(this.title === undefined ? {} : { title: this.title }) };
  }
}

/** The SolHttpError4xx titles. */
export const TITLES: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  409: 'Conflict',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Entity',
};

export function solError(status: number, detail: string): SolError {
  return new SolError(status, detail, TITLES[status]);
}
