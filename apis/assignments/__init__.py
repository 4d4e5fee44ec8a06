"""The assignments service: work set for a class (an exam, a lesson, a written or file task),
students' submissions, grading and returning."""
